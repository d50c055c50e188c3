"""The wire between the judge and the worker: messages of JSON and raw bytes, values as plain data.

A message is a JSON header followed by binary blobs (a tensor's bytes, a file). A value is JSON
with tagged objects for what JSON lacks: a tensor is {"$": "tensor", "b": blob, "dtype", "shape"}
and is rebuilt on the other side as a new plain tensor from its bytes, so no subclass, hook or
callable crosses. Anything else is a reference the sender's `other` hook chooses ({"$": "ref"} to
an object that stays in the worker, {"$": "cb"} to a function that stays in the judge).

This file is part of the worker's runtime: it imports the standard library and torch only.
"""

from __future__ import annotations

import json
import os
import pathlib
import select
import struct
import time

import torch

DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool)}
MAX_DEPTH = 40
MAX_ITEMS = 2_000_000  # values in one message
PLAIN = (bool, int, str)


class WireError(Exception):
    """The other side sent something that is not a message of this protocol."""


class Timeout(Exception):
    """No answer before the deadline."""


# ----------------------------------------------------------------------------------------------
# Frames
# ----------------------------------------------------------------------------------------------


def write_message(fd: int, header: dict, blobs: list = ()) -> None:
    """The header, then each blob (bytes, or a tensor's memory): large ones are written where they
    lie, not copied into one buffer first (GPT-2 124M's weights are 0.5 GB)."""
    head = json.dumps(header, separators=(",", ":")).encode()
    small = [struct.pack("!QI", len(head), len(blobs)), head]
    for blob in blobs:
        small.append(struct.pack("!Q", len(blob)))
        if len(blob) < 1 << 16:
            small.append(blob)
        else:
            _write(fd, b"".join(small))
            _write(fd, blob)
            small = []
    _write(fd, b"".join(small))


def _write(fd: int, data) -> None:
    data = memoryview(data).cast("B")
    while data:
        written = os.write(fd, data)
        data = data[written:]


class Reader:
    """Reads messages from a file descriptor, each within a deadline and a size limit."""

    def __init__(self, fd: int, limit: int):
        self.fd, self.limit = fd, limit

    def _exactly(self, n: int, deadline: float | None) -> bytearray:
        """n bytes, read straight into one buffer."""
        data = bytearray(n)
        view, got = memoryview(data), 0
        while got < n:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                    raise Timeout
            read = os.readv(self.fd, [view[got:got + (1 << 24)]])
            if not read:
                raise EOFError("the other side closed the connection")
            got += read
        return data

    def read(self, deadline: float | None = None) -> tuple[dict, list[bytes]]:
        head_size, count = struct.unpack("!QI", self._exactly(12, deadline))
        if head_size > min(self.limit, 1 << 30) or count > 1 << 20:
            raise WireError(f"a message header of {head_size} bytes and {count} blobs")
        try:
            header = json.loads(self._exactly(head_size, deadline))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise WireError(f"a header that is not JSON ({type(error).__name__})") from None
        blobs, total = [], head_size
        for _ in range(count):
            (size,) = struct.unpack("!Q", self._exactly(8, deadline))
            total += size
            if total > self.limit:
                raise WireError(f"a message of more than {self.limit >> 20} MiB")
            blobs.append(self._exactly(size, deadline))
        if not isinstance(header, dict):
            raise WireError("a header that is not a JSON object")
        return header, blobs


# ----------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------


def tensor_bytes(t: torch.Tensor) -> memoryview | bytes:
    """A tensor's memory, as it lies when it can (a copy only to make it contiguous or bring it to the CPU)."""
    t = torch.Tensor.detach(t).to("cpu").contiguous().reshape(-1)
    return memoryview(t.view(torch.uint8).numpy()) if t.numel() else b""


def encode(value, blobs: list[bytes], other, depth: int = 0):
    """`value` as JSON-able data; tensors' bytes appended to `blobs`; `other(value)` for the rest."""
    if depth > MAX_DEPTH:
        raise ValueError(f"a value nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if value == value and abs(value) != float("inf") else {"$": "float", "v": repr(value)}
    if type(value) is torch.Size:
        return {"$": "size", "v": [int(n) for n in value]}
    if isinstance(value, torch.dtype):
        return {"$": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"$": "device", "v": str(value)}
    if type(value) is slice:
        return {"$": "slice", "v": [encode(v, blobs, other, depth + 1) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"$": "ellipsis"}
    if isinstance(value, pathlib.PurePath):
        return {"$": "path", "v": str(value)}
    if type(value) in (bytes, bytearray):
        blobs.append(bytes(value))
        return {"$": "bytes", "b": len(blobs) - 1}
    if isinstance(value, (list, tuple, set, frozenset)):
        kind = "list" if isinstance(value, list) else "tuple" if isinstance(value, tuple) else "set"
        if _plain(value):  # e09's 50,000 merges: as they are, without a call per item
            return {"$": kind, "v": list(value)}
        return {"$": kind, "v": [encode(v, blobs, other, depth + 1) for v in value]}
    if isinstance(value, dict):
        if _plain(value) and _plain(value.values()):
            return {"$": "dict", "k": list(value), "v": list(value.values())}
        return {"$": "dict", "k": [encode(k, blobs, other, depth + 1) for k in value],
                "v": [encode(v, blobs, other, depth + 1) for v in value.values()]}
    return other(value)


def _plain(values) -> bool:
    """Only None, bool, int and str: JSON carries them as they are."""
    return all(v is None or type(v) in PLAIN for v in values)


def encode_tensor(t: torch.Tensor, blobs: list[bytes]) -> dict:
    dtype = str(torch.Tensor.__getattribute__(t, "dtype")).removeprefix("torch.")
    if dtype not in DTYPES:
        raise TypeError(f"tensors of dtype {dtype} cannot be sent")
    blobs.append(tensor_bytes(t))
    return {"$": "tensor", "b": len(blobs) - 1, "dtype": dtype,
            "shape": [int(n) for n in torch.Tensor.__getattribute__(t, "shape")],
            "device": str(torch.Tensor.__getattribute__(t, "device")),
            "rg": bool(torch.Tensor.__getattribute__(t, "requires_grad"))}


def decode_tensor(obj: dict, blobs: list[bytes], device: str | None = None) -> torch.Tensor:
    """A new plain tensor from its bytes (on `device` when given, else where it was)."""
    dtype, shape = DTYPES[obj["dtype"]], [int(n) for n in obj["shape"]]
    data, blobs[obj["b"]] = blobs[obj["b"]], None  # the tensor takes the blob's memory: once only
    if data is None:
        raise WireError("two tensors in one blob")
    numel = 1
    for n in shape:
        numel *= n
    if any(n < 0 for n in shape) or numel * dtype.itemsize != len(data):
        raise WireError(f"a tensor of shape {shape} and dtype {obj['dtype']} in {len(data)} bytes")
    data = data if type(data) is bytearray else bytearray(data)
    t = torch.frombuffer(data, dtype=torch.uint8).view(dtype).reshape(shape) if numel \
        else torch.empty(shape, dtype=dtype)
    target = device or obj.get("device", "cpu")
    if target != "cpu":
        t = t.to(target)
    return t.requires_grad_() if obj.get("rg") and t.is_floating_point() else t


class Budget:
    """Counts the values decoded from one message."""

    def __init__(self):
        self.left = MAX_ITEMS

    def take(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise WireError(f"more than {MAX_ITEMS} values in one message")


def decode(obj, blobs: list[bytes], tagged, budget: Budget | None = None, depth: int = 0):
    """The inverse of `encode`; `tagged(obj)` decodes the tags this module does not know."""
    budget = budget or Budget()
    budget.take()
    if depth > MAX_DEPTH:
        raise WireError(f"a value nested more than {MAX_DEPTH} levels deep")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is not dict or not isinstance(obj.get("$"), str):
        raise WireError(f"an untagged {type(obj).__name__} in a value")
    tag = obj["$"]
    inner = lambda v: decode(v, blobs, tagged, budget, depth + 1)  # noqa: E731
    if tag in ("list", "tuple", "set"):
        if type(obj["v"]) is list and _plain(obj["v"]):
            budget.take(len(obj["v"]))
            items = obj["v"]
        else:
            items = [inner(v) for v in obj["v"]]
        return items if tag == "list" else tuple(items) if tag == "tuple" else set(items)
    if tag == "dict":
        if type(obj["k"]) is list and type(obj["v"]) is list and _plain(obj["k"]) and _plain(obj["v"]):
            budget.take(len(obj["k"]) + len(obj["v"]))
            return dict(zip(obj["k"], obj["v"], strict=True))
        return {inner(k): inner(v) for k, v in zip(obj["k"], obj["v"], strict=True)}
    if tag == "float":
        return float(obj["v"])
    if tag == "size":
        return torch.Size(int(n) for n in obj["v"])
    if tag == "dtype":
        return DTYPES[obj["v"]]
    if tag == "device":
        return torch.device(str(obj["v"]))
    if tag == "slice":
        return slice(*(inner(v) for v in obj["v"]))
    if tag == "ellipsis":
        return Ellipsis
    if tag == "path":
        return pathlib.Path(str(obj["v"]))
    if tag == "bytes":
        return bytes(blobs[obj["b"]])
    return tagged(obj)
