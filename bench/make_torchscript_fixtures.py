"""TorchScript fixtures for crates/scan/tests/fixtures/real/: a traced model (benign) and two
archives whose scripted code does what a scanner of pickles never sees (malicious samples,
written with torch.jit.save and never loaded):

- torchscript_traced.pt: torch.jit.trace of a Linear-ReLU net;
- torchscript_file_ops.pt: a scripted forward that calls torch.from_file (reads a file into a
  tensor) and torch.save (writes one);
- torchscript_custom_op.pt: a scripted forward that calls an operator of a custom namespace
  (torch.library.define("aisec_fixture::boom")), which a loader runs only through a native
  library it loads first;
- torchscript_lite.ptl: the traced net saved for the mobile lite interpreter
  (_save_for_lite_interpreter: bytecode.pkl beside code/);
- torchscript_lite_file_ops.ptl: FileOps saved for the lite interpreter, then its code/ source
  rewritten without the torch.save line — the lite interpreter runs bytecode.pkl's operator
  table, which still holds aten::save.

    /tmp/benchvenv/bin/python bench/make_torchscript_fixtures.py [OUT_DIR]
"""
import os
import sys
import warnings
import zipfile

import torch

warnings.filterwarnings("ignore")
out = sys.argv[1] if len(sys.argv) > 1 else "crates/scan/tests/fixtures/real"
torch.manual_seed(0)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.fc(x))


class FileOps(torch.nn.Module):
    def forward(self, x):
        t = torch.from_file("/etc/passwd", True, 16, dtype=torch.uint8)
        torch.save(x, "/tmp/aisec_fixture_written.pt")
        return x + t.sum()


torch.library.define("aisec_fixture::boom", "(Tensor x) -> Tensor")


@torch.library.impl("aisec_fixture::boom", "cpu")
def boom(x):
    return x


class CustomOp(torch.nn.Module):
    def forward(self, x):
        return torch.ops.aisec_fixture.boom(x)


torch.jit.save(torch.jit.trace(Net(), torch.zeros(2, 4)), os.path.join(out, "torchscript_traced.pt"))
torch.jit.save(torch.jit.script(FileOps()), os.path.join(out, "torchscript_file_ops.pt"))
torch.jit.save(torch.jit.script(CustomOp()), os.path.join(out, "torchscript_custom_op.pt"))
torch.jit.trace(Net(), torch.zeros(2, 4))._save_for_lite_interpreter(os.path.join(out, "torchscript_lite.ptl"))
lite = os.path.join(out, "torchscript_lite_file_ops.ptl")
torch.jit.script(FileOps())._save_for_lite_interpreter(lite)
with zipfile.ZipFile(lite) as src:
    members = [(i, src.read(i.filename)) for i in src.infolist()]
with zipfile.ZipFile(lite, "w") as dst:
    for info, data in members:
        if info.filename.endswith("code/__torch__.py"):
            data = data.replace(b'torch.save(x, "/tmp/aisec_fixture_written.pt")', b"pass")
        dst.writestr(info, data)
print("torch", torch.__version__)
