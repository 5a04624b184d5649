"""Read a PyTorch state dict (`torch.save` file) into numpy arrays without importing torch.

The pretrained substitute CNN ships only as a .pth file; this keeps PyTorch out of the project.
The file is in torch's legacy stream layout: pickles of a magic number, the protocol version,
system info, the state dict (tensors refer to storages by key) and the storage keys, then each
storage as its element count (int64) and raw little-endian bytes. Only the classes a state dict
needs are unpickled; anything else is refused.
"""
from __future__ import annotations

import collections
import pickle
import struct
import zipfile

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C  # first pickle of a legacy torch.save stream
DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Tensor:
    """A tensor whose storage bytes come after the pickle: made an array once they are read."""

    def __init__(self, storage, offset, shape, strides):
        self.storage, self.offset, self.shape, self.strides = storage, offset, tuple(shape), tuple(strides)

    def to_numpy(self, buffers) -> np.ndarray:
        key, dtype = self.storage
        flat = np.frombuffer(buffers[key], dtype=dtype)
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.shape, strides=[s * itemsize for s in self.strides]
        )
        return view.copy(order="C")  # contiguous, writable, detached from the file buffer


def _rebuild_tensor(storage, offset, shape, strides, *_):
    return _Tensor(storage, offset, shape, strides)


def _rebuild_parameter(tensor, *_):
    return tensor


class _Unpickler(pickle.Unpickler):
    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def find_class(self, module, name):
        if module == "torch" and name in DTYPES:
            return DTYPES[name]
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a plain state dict")

    def persistent_load(self, pid):
        # ("storage", dtype, key, location, numel[, view metadata]); the dtype came through find_class.
        if pid[0] != "storage" or (len(pid) > 5 and pid[5] is not None):
            raise pickle.UnpicklingError(f"unsupported storage record {pid!r}")
        return str(pid[2]), pid[1]


def load_state_dict(path) -> dict[str, np.ndarray]:
    """Every tensor of the state dict at `path`, by name, as a numpy array."""
    if zipfile.is_zipfile(path):
        raise ValueError(f"{path} uses torch's zip layout; only the legacy layout of the pinned package is read")
    with open(path, "rb") as f:
        if _Unpickler(f).load() != MAGIC:
            raise ValueError(f"{path} is not a torch.save file")
        _Unpickler(f).load(), _Unpickler(f).load()  # protocol version, system info (little-endian assumed)
        state = _Unpickler(f).load()
        dtypes = dict(t.storage for t in state.values())
        buffers = {}
        for key in _Unpickler(f).load():
            (count,) = struct.unpack("<q", f.read(8))
            buffers[key] = f.read(count * np.dtype(dtypes[key]).itemsize)
    return {name: tensor.to_numpy(buffers) for name, tensor in state.items()}
