"""Writes benign model files with the real tools (torch, scikit-learn, joblib, NumPy,
safetensors, Keras 3 on the torch backend) into OUT, small enough to keep as fixtures.
Run from bench/scan_real.sh in a throwaway venv; nothing here is loaded back with pickle.

    python bench/make_real_artifacts.py OUT
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import joblib
import numpy as np
import torch
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = TinyNet()
    sd = net.state_dict()
    p = lambda name: os.path.join(out, name)
    torch.save(sd, p("torch_state_dict.pt"))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 4)).sum().backward()
    opt.step()
    torch.save(
        {"epoch": 3, "model": net.state_dict(), "optimizer": opt.state_dict(), "loss": 0.25,
         "rng": torch.get_rng_state()[:16].clone()},
        p("torch_checkpoint.pt"),
    )
    torch.save(sd, p("torch_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(
        {"f16": torch.ones(3, dtype=torch.float16), "bf16": torch.ones(3, dtype=torch.bfloat16),
         "i64": torch.arange(4), "u8": torch.zeros(2, dtype=torch.uint8),
         "bool": torch.tensor([True, False]), "c64": torch.ones(2, dtype=torch.complex64),
         "f64": torch.ones(2, dtype=torch.float64), "view": torch.arange(10)[2:5],
         "channels_last": torch.zeros(1, 2, 2, 2).to(memory_format=torch.channels_last)},
        p("torch_dtypes.pt"),
    )
    torch.save(net, p("torch_whole_module.pt"))
    torch.jit.save(torch.jit.script(net), p("torchscript.pt"))
    x, y = load_iris(return_X_y=True)
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y),
                p("sklearn_pipeline.joblib"))
    joblib.dump(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y),
                p("sklearn_forest.joblib"), compress=3)
    small = LogisticRegression(max_iter=200).fit(x, y)
    for method in ["gzip", "bz2", "xz", "lzma"]:
        joblib.dump(small, p(f"sklearn_{method}.joblib"), compress=method)
    np.save(p("numpy_array.npy"), np.arange(12, dtype=np.float32).reshape(3, 4))
    np.savez(p("numpy_arrays.npz"), a=np.arange(3), b=np.eye(2))
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in sd.items()}, p("model.safetensors"))
    try:
        import py7zr
        import zstandard
        with py7zr.SevenZipFile(p("torch_state_dict.7z"), "w") as z:
            z.write(p("torch_state_dict.pt"), "torch_state_dict.pt")
        with open(p("sklearn_pipeline.joblib"), "rb") as f:
            packed = zstandard.ZstdCompressor(level=3).compress(f.read())
        with open(p("sklearn_pipeline.joblib.zst"), "wb") as f:
            f.write(packed)
    except ImportError as e:
        print("7z/zstd skipped:", e)
    try:
        import keras
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        m.save(p("keras3_model.keras"))
    except Exception as e:  # keras is optional in the bench venv
        print("keras skipped:", e)
    print("versions: torch", torch.__version__, "numpy", np.__version__, "joblib", joblib.__version__)


if __name__ == "__main__":
    main()
