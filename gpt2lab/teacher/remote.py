"""The judge's end of the wire: the submission's objects as proxies, its answers as plain data.

A `Connection` talks to one worker (gpt2lab/teacher/runtime/worker.py). A `Proxy` stands for an
object that stays in the worker: reading an attribute, calling it, iterating it, `a + b` or
`a[i]` on it are requests, and what comes back is plain data (numbers, strings, new tensors built
from bytes) or another proxy. Nothing of the submission's code runs in this process, so a suite
reads as it does in `nox -s check`: build the learner's module, load weights, call forward.

What the judge sends is plain data too, or a callback: a function of the judge's (a forward hook,
e07's reference model) that the worker may call with plain data, and whose answer is plain data.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import pathlib
import time
import types
import weakref

import torch

from gpt2lab.teacher.proxies import Proxy, judge_class, proxy_class
from gpt2lab.teacher.runtime import wire

MAX_MESSAGE = 1 << 30  # bytes the worker may send in one answer
_nan_init = False  # inside build_for_loading: the worker's initialisers fill with NaN


@contextlib.contextmanager
def nan_initialisers():
    global _nan_init
    saved, _nan_init = _nan_init, True
    try:
        yield
    finally:
        _nan_init = saved


class WorkerGone(Exception):
    """The worker stopped answering: `reason` is timeout, memory or crashed."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class LearnerError(Exception):
    """An exception raised in the worker, as data: its type's name, message and frames."""

    remote_type = "Exception"
    frames: list = []
    syntax: list | None = None


_SAFE_BASES = {name: getattr(builtins, name) for name in dir(builtins)
               if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), Exception)
               and name not in ("StopIteration", "StopAsyncIteration", "GeneratorExit")}
_error_types: dict[tuple[str, type], type] = {}


def learner_error(found: dict) -> LearnerError:
    """A judge-side exception for the worker's: `except ValueError` catches a ValueError there."""
    mro = [str(name) for name in found.get("mro", [])]
    base = next((_SAFE_BASES[n.removeprefix("builtins.")] for n in mro
                 if n.startswith("builtins.") and n.removeprefix("builtins.") in _SAFE_BASES), Exception)
    name = str(found.get("type", "Exception"))[:100]
    bases = (LearnerError,) if base is Exception else (LearnerError, base)
    kind = _error_types.setdefault((name, base), type(name, bases, {}))
    try:
        error = kind(str(found.get("message", "")))
    except TypeError:  # a base whose constructor wants more (UnicodeDecodeError): the message is enough
        error = type(name, (LearnerError,), {})(str(found.get("message", "")))
    error.remote_type, error.frames, error.syntax = name, list(found.get("frames", [])), found.get("syntax")
    return error


class Connection:
    """Requests to one worker, with a deadline for every answer."""

    def __init__(self, fd_in: int, fd_out: int, *, end, label: str, device: str, startup: float = 120.0):
        """end(wait): stop the worker for good, after up to `wait` seconds for it to end by itself;
        the exit code it ended with by itself, when known (a process), else None."""
        self.end, self.label, self.device = end, label, device
        self.startup = time.monotonic() + startup  # until the worker says it is ready
        self.reader = wire.Reader(fd_in, MAX_MESSAGE)
        self.out = fd_out
        self.deadline: float | None = None
        self.gone: WorkerGone | None = None
        self.proxies: weakref.WeakValueDictionary[int, Proxy] = weakref.WeakValueDictionary()
        self.kept: dict[int, Proxy] = {}  # tensors: their identity matters (shared parameters)
        self.released: list[int] = []
        self.callbacks: dict[int, object] = {}
        self.raised: dict[int, BaseException] = {}
        self.tokens = itertools.count(1)
        self.info: dict = {}
        self.uploads: dict[str, pathlib.Path] = {}
        self.constants: set[str] = set()
        self.on_gone = None  # called with the WorkerGone before it is raised

    # -- requests --------------------------------------------------------------------------------

    def ready(self) -> dict:
        """Wait for the worker's first message (it has imported torch), once."""
        if not self.info:
            saved, self.deadline = self.deadline, min(self.startup, self.deadline or self.startup)
            try:
                hello, _ = self._read()
            finally:
                self.deadline = saved
            if not hello.get("ready"):
                raise self.stop("crashed", "the worker did not start")
            self.info = hello
        return self.info

    def request(self, op: str, **fields):
        if self.gone is not None:
            raise self.gone
        self.ready()
        blobs: list[bytes] = []
        header = {"op": op, "grad": torch.is_grad_enabled(), "nan": _nan_init}
        for key, value in fields.items():
            header[key] = value if key in ("name", "module", "path", "b", "limit") else self.encode(value, blobs)
        if self.released:
            header["release"], self.released = self.released, []
        self._send(header, blobs)
        while True:
            reply, reply_blobs = self._read()
            if "cb" in reply:
                self._run_callback(reply, reply_blobs)
                continue
            try:
                if "error" in reply:
                    error = reply["error"]
                    token = error.get("token") if isinstance(error, dict) else None
                    if token in self.raised:
                        raise self.raised.pop(token)
                    raise learner_error(error if isinstance(error, dict) else {"message": str(error)})
                return self.decode(reply["value"], reply_blobs)
            except (wire.WireError, KeyError, TypeError, ValueError, AttributeError) as error:
                if isinstance(error, LearnerError):
                    raise
                raise self.stop("crashed", f"the worker answered with something that is not a value ({error})")

    def module(self, name: str) -> Proxy:
        return self.request("import", module=name)

    def upload(self, path: str, data: bytes) -> str:
        """Write a file into the worker's scratch space; its path there."""
        if self.gone is not None:
            raise self.gone
        self.ready()
        self._send({"op": "put", "path": path, "b": 0}, [data])
        reply, blobs = self._read()
        if "error" in reply:
            raise learner_error(reply["error"])
        return str(self.decode(reply["value"], blobs))

    def upload_folder(self, folder) -> pathlib.Path:
        """The files of `folder` in the worker's scratch space (once per folder): the copy's path."""
        key = str(folder)
        if key not in self.uploads:
            paths = [self.upload(f"{len(self.uploads)}/{folder.name}/{f.name}", f.read_bytes())
                     for f in sorted(folder.iterdir()) if f.is_file()]
            self.uploads[key] = pathlib.Path(paths[0]).parent if paths else folder
        return self.uploads[key]

    def _send(self, header: dict, blobs: list[bytes]) -> None:
        try:
            wire.write_message(self.out, header, blobs)
        except OSError:
            raise self.stop(*self._why_dead()) from None

    def _read(self):
        try:
            return self.reader.read(self.deadline)
        except wire.Timeout:
            raise self.stop("timeout", "the time limit ran out") from None
        except (EOFError, OSError):
            raise self.stop(*self._why_dead()) from None
        except wire.WireError as error:
            raise self.stop("crashed", f"the worker broke the protocol: {error}") from None

    def _why_dead(self) -> tuple[str, str]:
        code = self.end(1.0)  # it closed the pipe: its exit code follows
        if code in (-9, 137):
            return "memory", "the worker was killed (out of memory?)"
        return "crashed", "the worker ended" + (f" (exit code {code})" if code is not None else "")

    def stop(self, reason: str = "crashed", message: str = "stopped") -> WorkerGone:
        """Stop the worker; later requests raise the same WorkerGone."""
        if self.gone is None:
            self.gone = WorkerGone(reason, message)
            self.end(0.0)
            if self.on_gone:
                self.on_gone(self.gone)
        return self.gone

    def close(self) -> None:
        if self.gone is None:
            self.gone = WorkerGone("crashed", "the worker was closed")
            self.end(0.0)

    # -- callbacks from the worker -----------------------------------------------------------------

    def _run_callback(self, reply: dict, blobs: list[bytes]) -> None:
        fn = self.callbacks.get(reply.get("cb"))
        out: list[bytes] = []
        try:
            if fn is None:
                raise ValueError("no such callback")
            args, kwargs = self.decode(reply["args"], blobs), self.decode(reply["kwargs"], blobs)
            answer = {"value": self.encode(fn(*args, **dict(kwargs)), out)}
        except WorkerGone:
            raise
        except Exception as error:  # noqa: BLE001 — raised again in the judge if it comes back
            token = next(self.tokens)
            self.raised[token] = error
            out, answer = [], {"error": f"{type(error).__name__}: {error}"[:2000], "token": token}
        self._send(answer, out)

    def callback(self, fn) -> dict:
        cb = next(self.tokens)
        self.callbacks[cb] = fn
        return {"$": "cb", "id": cb}

    # -- values ------------------------------------------------------------------------------------

    def encode(self, value, blobs: list[bytes]):
        return wire.encode(value, blobs, lambda v: self._other(v, blobs))

    def _other(self, value, blobs: list[bytes]):
        if isinstance(value, Proxy):
            if object.__getattribute__(value, "_conn") is not self:
                raise TypeError("a proxy of another worker")
            return {"$": "own", "id": object.__getattribute__(value, "_id")}
        if isinstance(value, torch.Tensor):
            return wire.encode_tensor(value, blobs)
        if isinstance(value, torch.Generator):
            blobs.append(wire.tensor_bytes(value.get_state()))
            return {"$": "gen", "device": str(value.device), "b": len(blobs) - 1}
        if isinstance(value, types.SimpleNamespace):
            return {"$": "ns", "v": self.encode(vars(value), blobs)}
        if isinstance(value, torch.nn.Module):
            return self._judge_module(value, blobs)
        if isinstance(value, Constant):  # sent once to this worker, then named
            if value.key in self.constants:
                return {"$": "const", "key": value.key}
            self.constants.add(value.key)
            return {"$": "const", "key": value.key, "v": self.encode(value.make(), blobs)}
        if isinstance(value, Exposed):
            return {"$": "jobj", "methods": {m: self.callback(getattr(value, m))["id"] for m in value.methods}}
        if callable(value):
            return self.callback(value)
        raise TypeError(f"{type(value).__name__} cannot be sent to the worker")

    def _judge_module(self, module: torch.nn.Module, blobs: list[bytes]) -> dict:
        config = getattr(module, "config", None)
        plain = {k: v for k, v in vars(config).items() if type(v) in (int, float, str, bool)} if config else {}
        state = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        params = {name: True for name, _ in module.named_parameters()}
        return {"$": "jmod", "cb": self.callback(module)["id"], "config": self.encode(plain, blobs),
                "state": self.encode({k: v.detach() for k, v in state.items()}, blobs), "params": params,
                "training": module.training}

    def decode(self, obj, blobs: list[bytes]):
        return wire.decode(obj, blobs, lambda o: self._tagged(o, blobs))

    def _tagged(self, obj: dict, blobs: list[bytes]):
        tag = obj["$"]
        if tag == "tensor":
            return wire.decode_tensor(obj, blobs, None)
        if tag == "ref":
            return self._proxy(int(obj["id"]), str(obj.get("kind")), [str(t) for t in obj.get("type", [])][:64])
        if tag == "gen":
            generator = torch.Generator(device=str(obj["device"]))
            generator.set_state(torch.frombuffer(bytearray(blobs[obj["b"]]), dtype=torch.uint8))
            return generator
        if tag == "ns":
            return types.SimpleNamespace(**{str(k): v for k, v in self.decode(obj["v"], blobs).items()})
        raise wire.WireError(f"unknown tag {tag!r}")

    def _proxy(self, handle: int, kind: str, mro: list[str]) -> Proxy:
        proxy = self.kept.get(handle)
        proxy = self.proxies.get(handle) if proxy is None else proxy
        if proxy is not None:
            return proxy
        judged = judge_class(mro)
        tensor = judged is not None and issubclass(judged, torch.Tensor)  # what the judge sees decides
        proxy = proxy_class(mro[0].rpartition(".")[2] if mro else "object", tensor)(self, handle, kind, mro)
        if handle in self.released:  # its last proxy died, the worker still has it: keep it there
            self.released.remove(handle)
        if tensor:
            self.kept[handle] = proxy
        else:
            self.proxies[handle] = proxy
            weakref.finalize(proxy, self._release, handle)
        return proxy

    def _release(self, handle: int) -> None:
        """The judge holds no proxy of `handle` any more: the worker may forget it (told with the
        next request; cancelled if a reply names it again before then)."""
        self.released.append(handle)


class Constant:
    """A large argument that is the same in every call (e09's 50,000 BPE ranks): the worker is sent
    it once and hands the learner's code a fresh shallow copy each time."""

    def __init__(self, key: str, make):
        self.key, self.make = key, make


class Exposed:
    """An object of the judge's that the learner's code may use through the named methods only
    (e07's tokenizer: encode and decode); in the worker it is a namespace of callbacks."""

    def __init__(self, obj, *methods: str):
        self.methods = methods
        for name in methods:
            setattr(self, name, getattr(obj, name))


def kill(process) -> int | None:
    """SIGKILL the worker's process group (bwrap: its PID namespace dies with it); its exit code."""
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except Exception:  # noqa: BLE001
        pass
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
    return process.returncode
