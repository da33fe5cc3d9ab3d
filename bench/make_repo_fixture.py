"""Writes crates/scan/tests/fixtures/real/hub_repo/: a model folder laid out as the model hubs
lay one out, every model file written by its own library — safetensors shards and their index
(safetensors.numpy), a SentencePiece tokenizer (sentencepiece's own trainer), an ONNX export
keeping its weights in a `model.onnx.data` file beside it (onnx.save_model with external data,
the writer torch.onnx.export uses) — beside the text files that are not models.

    python3 -m venv /tmp/onnxvenv && /tmp/onnxvenv/bin/pip install onnx safetensors sentencepiece numpy
    /tmp/onnxvenv/bin/python bench/make_repo_fixture.py crates/scan/tests/fixtures/real/hub_repo
"""
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import sentencepiece as spm
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

out = sys.argv[1]
os.makedirs(f"{out}/onnx", exist_ok=True)
rng = np.random.default_rng(0)
shards = {
    "model-00001-of-00002.safetensors": {"embed.weight": rng.standard_normal((8, 4), dtype=np.float32)},
    "model-00002-of-00002.safetensors": {"head.weight": rng.standard_normal((4, 3), dtype=np.float32),
                                         "head.bias": np.zeros(3, dtype=np.float32)},
}
weight_map = {}
for name, tensors in shards.items():
    save_file(tensors, f"{out}/{name}", metadata={"format": "pt"})
    weight_map.update({k: name for k in tensors})
with open(f"{out}/model.safetensors.index.json", "w") as f:
    json.dump({"metadata": {"total_size": 188}, "weight_map": weight_map}, f, indent=2)
with open(f"{out}/config.json", "w") as f:
    json.dump({"architectures": ["TinyModel"], "hidden_size": 4, "vocab_size": 40}, f, indent=2)
with open(f"{out}/README.md", "w") as f:
    f.write("---\nlicense: apache-2.0\n---\n# tiny-model\n\nA fixture for aisec's scanner.\n")
with open(f"{out}/LICENSE", "w") as f:
    f.write("Apache License, Version 2.0 (fixture).\n")

with tempfile.TemporaryDirectory() as tmp:
    corpus = f"{tmp}/corpus.txt"
    with open(corpus, "w") as f:
        f.write("\n".join(f"the quick brown fox jumps over the lazy dog {i}" for i in range(200)))
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=f"{tmp}/tokenizer", vocab_size=40,
                                   model_type="unigram", normalization_rule_name="identity")
    os.replace(f"{tmp}/tokenizer.model", f"{out}/tokenizer.model")

w = numpy_helper.from_array(rng.standard_normal((4, 3), dtype=np.float32), "head.weight")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "head.weight"], ["y"])], "tiny",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.save_model(model, f"{out}/onnx/model.onnx", save_as_external_data=True,
                all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
onnx.checker.check_model(f"{out}/onnx/model.onnx")
print("versions: onnx", onnx.__version__, "sentencepiece", spm.__version__, "numpy", np.__version__)
