"""Proxies: the worker's objects as the judge sees them (see gpt2lab.teacher.remote).

A `Proxy` forwards attribute reads, calls, iteration and operators to its worker as requests. A
`TensorProxy` (a parameter, or a tensor with a graph) is read locally: its bytes are fetched and
every comparison runs in the judge; only changing it (`add_`, `backward`) is a request.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from gpt2lab.teacher.remote import Connection


_NAMES = ("__name__", "__qualname__", "__module__", "__doc__")


class Proxy:
    """An object of the worker's. Its class looks like the torch class it derives from."""

    __slots__ = ("_conn", "_id", "_kind", "_mro", "__weakref__")

    def __init__(self, conn: Connection, handle: int, kind: str, mro: list[str]):
        for name, value in (("_conn", conn), ("_id", handle), ("_kind", kind), ("_mro", mro)):
            object.__setattr__(self, name, value)

    def _ask(self, op: str, **fields):
        return object.__getattribute__(self, "_conn").request(op, obj=self, **fields)

    def _op(self, name: str, *args):
        return self._ask("operator", name=name, args=list(args))

    def __getattr__(self, name: str):
        if name.startswith("__") and name not in _NAMES:
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value) -> None:
        self._ask("setattr", name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._ask("call", args=list(args), kwargs=kwargs)

    def __iter__(self):
        return iter(self._ask("iter"))

    @property
    def __class__(self):  # isinstance(proxy, nn.Module) is True for the learner's modules
        return judge_class(object.__getattribute__(self, "_mro")) or type(self)

    def __instancecheck__(self, obj) -> bool:  # isinstance(proxy, kata.Conv1D): asked of the worker
        conn = object.__getattribute__(self, "_conn")
        return _same_worker(obj, conn) and bool(conn.request("isinstance", obj=obj, cls=self))

    def __subclasscheck__(self, cls) -> bool:
        conn = object.__getattribute__(self, "_conn")
        return _same_worker(cls, conn) and bool(conn.request("issubclass", obj=cls, cls=self))

    def __repr__(self) -> str:
        try:
            return str(self._ask("repr"))
        except Exception:  # noqa: BLE001
            return f"<{type(self).__name__} of the submission>"

    def __str__(self) -> str:
        return str(self._op("str"))

    def __hash__(self) -> int:
        return hash((id(object.__getattribute__(self, "_conn")), object.__getattribute__(self, "_id")))

    def __eq__(self, other):
        return self._op("eq", other)

    def __ne__(self, other):
        return self._op("ne", other)

    def __len__(self) -> int:
        return int(self._op("len"))

    def __bool__(self) -> bool:
        return bool(self._op("bool"))

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value) -> None:
        self._op("setitem", key, value)

    def __contains__(self, item) -> bool:
        return bool(self._op("contains", item))

    def __int__(self) -> int:
        return int(self._op("int"))

    def __float__(self) -> float:
        return float(self._op("float"))

    def __index__(self) -> int:
        return int(self._op("index"))


def _same_worker(obj, conn: Connection) -> bool:
    return type(obj).__mro__[-2:] == (Proxy, object) and object.__getattribute__(obj, "_conn") is conn


def _binary(name: str):
    return lambda self, other: self._op(name, other)


for _name in ("lt", "le", "gt", "ge", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "and_", "or_", "xor", "iadd", "isub", "imul", "itruediv", "ipow"):
    setattr(Proxy, f"__{_name.rstrip('_')}__", _binary(_name))
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor"):
    setattr(Proxy, f"__r{_name.rstrip('_')}__", _binary(f"r{_name}"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(Proxy, f"__{_name}__", (lambda n: lambda self: self._op(n))(_name))


class TensorProxy(Proxy):
    """A tensor that stays in the worker (a parameter, or one with a graph).

    Reading it is local: its values are fetched as bytes and everything else (`.abs()`, `==`,
    `torch.equal`, `.item()`) runs here on that copy, so no comparison is ever computed by the
    worker and no tensor of the judge is sent to it as an operand. Changing it is remote: in-place
    methods (`add_`, `copy_`, ...), `backward`, `.grad`.
    """

    __slots__ = ()

    def _local(self) -> torch.Tensor:
        return as_local(self)

    def __getattr__(self, name: str):
        if name.startswith("__") and name not in _NAMES:
            raise AttributeError(name)
        if name in REMOTE_TENSOR_ATTRS or (name.endswith("_") and not name.startswith("_")):
            return self._ask("getattr", name=name)
        return getattr(self._local(), name)

    def __iter__(self):
        return iter(self._local())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._local()!r})"

    @classmethod
    def __torch_function__(cls, func, types_, args=(), kwargs=None):
        def local(value):
            if isinstance(value, TensorProxy):
                return value._local()
            if isinstance(value, (list, tuple)):
                return type(value)(local(v) for v in value)
            return value
        return func(*local(args), **{k: local(v) for k, v in (kwargs or {}).items()})


REMOTE_TENSOR_ATTRS = frozenset({"grad", "requires_grad", "is_leaf", "grad_fn", "backward", "register_hook",
                                 "retain_grad"})


def _local_operator(name: str):
    def operate(self, *args):
        return getattr(self._local(), name)(*args)
    return operate


for _name in ("__eq__", "__ne__", "__len__", "__bool__", "__getitem__", "__contains__", "__int__", "__float__",
              "__index__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__sub__", "__mul__",
              "__truediv__", "__floordiv__", "__mod__", "__pow__", "__matmul__", "__and__", "__or__", "__xor__",
              "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__", "__rmod__", "__rpow__",
              "__rmatmul__", "__rand__", "__ror__", "__rxor__", "__neg__", "__pos__", "__abs__", "__invert__",
              "__str__"):
    setattr(TensorProxy, _name, _local_operator(_name))
for _name in ("__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__"):
    setattr(TensorProxy, _name, getattr(Proxy, _name))  # in place: the worker's tensor changes


def as_local(value) -> torch.Tensor:
    """A plain tensor of this process: the worker's tensor fetched as bytes, or `value` itself."""
    if isinstance(value, Proxy):
        fetched = object.__getattribute__(value, "_conn").request("fetch", obj=value)
        if type(fetched) is not torch.Tensor:
            raise TypeError(f"{type(value).__name__} is not a tensor")
        return fetched
    return value


_classes: dict[tuple[str, bool], type] = {}


def proxy_class(name: str, tensor: bool) -> type:
    """A proxy class named as the worker's class, so that messages say `LayerNorm`."""
    key = (name if name.isidentifier() else "object", tensor)
    if key not in _classes:
        _classes[key] = type(key[0], (TensorProxy if tensor else Proxy,), {"__slots__": ()})
    return _classes[key]


def judge_class(mro: list[str]) -> type | None:
    """The first class of the worker object's MRO that is torch's or Python's own (never imported
    here on the worker's word: only modules already loaded are looked at)."""
    for name in mro:
        module, _, qualname = name.rpartition(".")
        if not (module == "torch" or module.startswith("torch.") or module == "builtins"):
            continue
        found = sys.modules.get(module)
        for part in qualname.split("."):
            found = getattr(found, part, None) if found is not None else None
        if isinstance(found, type) and found is not object:
            return found
    return None


def connection_of(proxy: Proxy) -> Connection:
    return object.__getattribute__(proxy, "_conn")
