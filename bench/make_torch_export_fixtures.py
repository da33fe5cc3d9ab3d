"""Writes the files PyTorch's current exporters write by default, for the scanner's fixtures:
`torch_export.pt2` (torch.export.save: weights as raw bytes named by a JSON config, sample
inputs as a nested torch.save) and `torch_onnx/model.onnx` + `model.onnx.data`
(torch.onnx.export, whose default since PyTorch 2.9 keeps the weights in a file beside the model).

    python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install torch onnx onnxscript
    /tmp/benchvenv/bin/python bench/make_torch_export_fixtures.py crates/scan/tests/fixtures/real
"""
import os
import sys

import torch
from torch import nn

out = sys.argv[1]
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
x = torch.randn(1, 1, 6, 6)
torch.export.save(torch.export.export(net, (x,)), f"{out}/torch_export.pt2")
os.makedirs(f"{out}/torch_onnx", exist_ok=True)
torch.onnx.export(net, (x,), f"{out}/torch_onnx/model.onnx")
assert os.path.exists(f"{out}/torch_onnx/model.onnx.data"), "the exporter kept the weights inside"
print("torch", torch.__version__)
