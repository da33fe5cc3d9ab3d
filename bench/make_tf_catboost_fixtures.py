"""Real TensorFlow SavedModel and CatBoost files, written by the libraries themselves, so the
scanner's tests can check its readers against what TensorFlow and CatBoost really write.

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu catboost numpy scikit-learn
    /tmp/tfvenv/bin/python bench/make_tf_catboost_fixtures.py [crates/scan/tests/fixtures/real]

Writes, each as small as the library allows:

    tf_savedmodel/             benign: one Variable, a tf.function doing matmul + relu
    tf_savedmodel_readfile/    MALICIOUS SAMPLE: a tf.function that calls tf.io.read_file("/etc/passwd")
    tf_savedmodel_writefile/   MALICIOUS SAMPLE: a tf.function that calls tf.io.write_file("/tmp/aisec_pwned", "x")
    tf_savedmodel_print_file/  MALICIOUS SAMPLE: tf.print(x, output_stream="file:///tmp/aisec_print")
    keras_export_savedmodel/   Keras 3 Sequential([Input((4,)), Dense(3)]).export(dir)
    catboost_model.cbm         CatBoostClassifier(iterations=2, depth=2) on iris, save_model's default format
    catboost_model.json        the same model, save_model(format="json")

Reruns write the same bytes: the only values the libraries randomise (fingerprint.pb's uuid,
CatBoost's model_guid and train_finish_time) are pinned, see pin_fingerprint_uuid and
catboost_models.  The malicious samples are only traced and saved, never run or loaded: tf.saved_model.save traces
each tf.function into a graph and does not execute it.  Afterwards the script prints the op names
in each saved_model.pb (top-level graph and function library) and CatBoost's first bytes.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("PYTHONHASHSEED", "0")

import shutil
import sys

import numpy as np
import tensorflow as tf

OUT = sys.argv[1] if len(sys.argv) > 1 else "crates/scan/tests/fixtures/real"
SPEC = [tf.TensorSpec([None, 2], tf.float32, name="x")]
W = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=np.float32)


def fresh(name):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    return path


class Tiny(tf.Module):
    def __init__(self):
        super().__init__(name="tiny")
        self.w = tf.Variable(W, name="w")

    @tf.function(input_signature=SPEC)
    def __call__(self, x):
        return {"y": tf.nn.relu(tf.matmul(x, self.w))}


class ReadFile(Tiny):
    @tf.function(input_signature=SPEC)
    def __call__(self, x):
        return {"y": tf.nn.relu(tf.matmul(x, self.w)), "extra": tf.io.read_file("/etc/passwd")}


class WriteFile(Tiny):
    @tf.function(input_signature=SPEC)
    def __call__(self, x):
        tf.io.write_file("/tmp/aisec_pwned", "x")
        return {"y": tf.nn.relu(tf.matmul(x, self.w))}


class PrintFile(Tiny):
    @tf.function(input_signature=SPEC)
    def __call__(self, x):
        y = tf.nn.relu(tf.matmul(x, self.w))
        tf.print(x, output_stream="file:///tmp/aisec_print")
        return {"y": y}


def pin_fingerprint_uuid(path):
    """TF writes a random 128-bit `uuid` into fingerprint.pb on every save; everything else in
    the folder is deterministic.  Replace it, through TF's own FingerprintDef class, with a number
    of the same shape derived from saved_model.pb, so reruns leave the fixtures unchanged."""
    import hashlib

    from tensorflow.core.protobuf import fingerprint_pb2

    fp_path = os.path.join(path, "fingerprint.pb")
    if not os.path.exists(fp_path):
        return
    fp = fingerprint_pb2.FingerprintDef()
    with open(fp_path, "rb") as f:
        fp.ParseFromString(f.read())
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        fp.uuid = str(int.from_bytes(hashlib.sha256(f.read()).digest()[:16], "little"))
    with open(fp_path, "wb") as f:
        f.write(fp.SerializeToString())


def save_module(cls, name):
    m = cls()
    path = fresh(name)
    tf.saved_model.save(m, path, signatures={"serving_default": m.__call__})
    pin_fingerprint_uuid(path)
    return path


def keras_export(name):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    path = fresh(name)
    model.export(path, format="tf_saved_model", verbose=False)
    pin_fingerprint_uuid(path)
    return path, keras.__version__


def ops_in(path):
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    graph, funcs = set(), set()
    for mg in sm.meta_graphs:
        graph |= {n.op for n in mg.graph_def.node}
        for fn in mg.graph_def.library.function:
            funcs |= {n.op for n in fn.node_def}
    return sorted(graph), sorted(funcs)


def catboost_models():
    import catboost
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = catboost.CatBoostClassifier(iterations=2, depth=2, random_seed=0, verbose=0,
                                      thread_count=1, allow_writing_files=False)
    clf.fit(X, y)
    # CatBoost stamps a random model_guid and the wall-clock train_finish_time into the model's
    # metadata; pin both through its own metadata API so reruns write the same bytes.
    meta = clf.get_metadata()
    meta["model_guid"] = "00000000-00000000-00000000-00000000"
    meta["train_finish_time"] = "2026-12-07T00:00:00Z"
    cbm = os.path.join(OUT, "catboost_model.cbm")
    js = os.path.join(OUT, "catboost_model.json")
    clf.save_model(cbm)
    clf.save_model(js, format="json")
    return cbm, js, catboost.__version__


def main():
    os.makedirs(OUT, exist_ok=True)
    tf.random.set_seed(0)
    dirs = [
        save_module(Tiny, "tf_savedmodel"),
        save_module(ReadFile, "tf_savedmodel_readfile"),
        save_module(WriteFile, "tf_savedmodel_writefile"),
        save_module(PrintFile, "tf_savedmodel_print_file"),
    ]
    kpath, kver = keras_export("keras_export_savedmodel")
    dirs.append(kpath)
    cbm, js, cbver = catboost_models()
    for side_effect in ("/tmp/aisec_pwned", "/tmp/aisec_print"):
        assert not os.path.exists(side_effect), f"{side_effect} exists: a sample ran"

    print(f"tensorflow {tf.__version__}, keras {kver}, catboost {cbver}, numpy {np.__version__}")
    for d in dirs:
        total = 0
        for root, _, files in sorted(os.walk(d)):
            for f in sorted(files):
                p = os.path.join(root, f)
                total += os.path.getsize(p)
                print(f"  {os.path.relpath(p, OUT)}  {os.path.getsize(p)} B")
        graph, funcs = ops_in(d)
        print(f"{os.path.basename(d)}: {total} B")
        print(f"  graph_def.node ops:    {' '.join(graph)}")
        print(f"  library function ops: {' '.join(funcs)}")
    for p in (cbm, js):
        print(f"{os.path.basename(p)}: {os.path.getsize(p)} B")
    with open(cbm, "rb") as f:
        head = f.read(64)
    print("catboost_model.cbm first 16 bytes:", head[:16].hex(" "))
    print("catboost_model.cbm first 64 bytes:", head.hex(" "))


if __name__ == "__main__":
    main()
