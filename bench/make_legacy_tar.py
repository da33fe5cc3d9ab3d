"""Writes a legacy (PyTorch < 0.4) tar checkpoint of a two-tensor state dict by hand, after
the reader that current torch still has (torch/serialization.py, _legacy_load): members
sys_info, pickle, storages (count, then per storage a pickled (key, location, type), an int64
element count and the raw data, then the storage views) and tensors (count, then per tensor
a pickled (key, storage key, type) and its int32 ndim, padding, sizes, strides, offset).
torch.load(weights_only=False) reads it back; no torch this old installs any more.

    python bench/make_legacy_tar.py OUT.pt
"""

import io
import pickle
import struct
import sys
import tarfile

import torch

out = sys.argv[1]
t1 = torch.arange(6, dtype=torch.float32)
t2 = torch.ones(3, dtype=torch.float64)
pairs = [(0, t1, torch.FloatStorage, 2, torch.FloatTensor), (1, t2, torch.DoubleStorage, 3, torch.DoubleTensor)]


def storages():
    f = io.BytesIO()
    pickle.dump(len(pairs), f, protocol=2)
    for key, t, storage_type, _, _ in pairs:
        pickle.dump((key, "cpu", storage_type), f, protocol=2)
        f.write(struct.pack("<q", t.numel()))
        f.write(t.numpy().tobytes())
    pickle.dump([], f, protocol=2)
    return f.getvalue()


def tensors():
    f = io.BytesIO()
    pickle.dump(len(pairs), f, protocol=2)
    for storage_key, t, _, key, tensor_type in pairs:
        pickle.dump((key, storage_key, tensor_type), f, protocol=2)
        f.write(struct.pack("<i", 1) + b"\0\0\0\0")
        f.write(struct.pack("<qqq", t.numel(), 1, 0))
    return f.getvalue()


class Tag:
    def __init__(self, key):
        self.key = key


class Writer(pickle.Pickler):
    def persistent_id(self, obj):
        return str(obj.key) if isinstance(obj, Tag) else None


main = io.BytesIO()
Writer(main, protocol=2).dump({"a.weight": Tag(2), "a.bias": Tag(3)})
sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
with tarfile.open(out, "w:", format=tarfile.PAX_FORMAT) as tar:
    for name, data in [("sys_info", sys_info), ("pickle", main.getvalue()),
                       ("storages", storages()), ("tensors", tensors())]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
print({k: v.tolist() for k, v in torch.load(out, weights_only=False).items()})
