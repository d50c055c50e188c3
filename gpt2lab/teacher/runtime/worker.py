"""The worker: runs a submission's exercise files and answers the judge with plain data.

Started by the judge (gpt2lab.teacher.sandbox) inside the sandbox, as `python -I -S -B worker.py`,
with the protocol on stdin/stdout; or as a zygote (one per submission): it imports torch once, then
forks a fresh worker for each exercise, whose protocol is a socket the judge sends it. It imports the standard library, torch and the submission's
exercises, nothing of the teacher's. Before any of the submission's code runs it drops to an
unprivileged user (when started as root), moves the protocol off fds 0/1 (a print() goes to the
log), and sets its limits. Then it keeps a table of the objects it hands out by reference, and
does what each request asks: import, getattr, call, iterate, isinstance, fetch a tensor, write a
file into its scratch space. Objects of the judge appear here only as callbacks that send plain
data back (a forward hook, the reference model of e07), never as objects.
"""

import copy
import importlib
import itertools
import json
import operator
import os
import resource
import signal
import sys
import traceback
import types

CONFIG = json.loads(sys.argv[1])
if os.getuid() == 0 and CONFIG.get("uid") is not None:  # root in the sandbox: become nobody for real
    os.setgroups([])
    os.setresgid(CONFIG["gid"], CONFIG["gid"], CONFIG["gid"])
    os.setresuid(CONFIG["uid"], CONFIG["uid"], CONFIG["uid"])
sys.path[:] = [p for p in CONFIG["path"] if os.path.isdir(p)]
PROTO_IN, PROTO_OUT = os.dup(0), os.dup(1)  # a zygote: both are its socket to the judge
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
os.dup2(2, 1)  # the learner's prints go to the log, not into the protocol

import torch  # noqa: E402

import wire  # noqa: E402
from learner_side import NaNInitialisers  # noqa: E402

torch.set_num_threads(max(1, int(CONFIG.get("threads", 1))))
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file past the limit fails with EFBIG instead


def apply_limits() -> None:
    """File size, processes, and memory beyond what this process holds now (torch imported)."""
    limits = {resource.RLIMIT_FSIZE: CONFIG.get("fsize"), resource.RLIMIT_NPROC: CONFIG.get("nproc")}
    if CONFIG.get("memory_mb") and CONFIG.get("device", "cpu") == "cpu":
        with open("/proc/self/status") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        limits[resource.RLIMIT_AS] = (size_kb + 1024 * CONFIG["memory_mb"]) * 1024
    for which, value in limits.items():
        if value:
            resource.setrlimit(which, (value, value))


class CallbackError(Exception):
    """A function of the judge's, called by the submission's code, raised."""

    def __init__(self, token: int, message: str):
        super().__init__(message)
        self.token = token


class Worker:
    def __init__(self, fd_in: int = PROTO_IN, fd_out: int = PROTO_OUT):
        self.fd_out = fd_out
        self.reader = wire.Reader(fd_in, CONFIG.get("max_message", 1 << 31))
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}  # id(object) -> its handle
        self.constants: dict[str, object] = {}
        self.next_id = itertools.count(1)
        self.device = CONFIG.get("device", "cpu")

    # -- values --------------------------------------------------------------------------------

    def ref(self, obj) -> dict:
        handle = self.ids.get(id(obj))
        if handle is None or self.objects.get(handle) is not obj:
            handle = next(self.next_id)
            self.objects[handle], self.ids[id(obj)] = obj, handle
        mro = type(obj).__mro__ if isinstance(type(obj), type) else (object,)
        kind = ("tensor" if isinstance(obj, torch.Tensor) else "class" if isinstance(obj, type)
                else "callable" if callable(obj) and not isinstance(obj, torch.nn.Module) else "object")
        return {"$": "ref", "id": handle, "kind": kind,
                "type": [f"{getattr(c, '__module__', '?')}.{getattr(c, '__qualname__', '?')}" for c in mro]}

    def other(self, value, blobs):
        if isinstance(value, torch.Tensor):
            if isinstance(value, torch.nn.Parameter) or torch.Tensor.__getattribute__(value, "requires_grad"):
                return self.ref(value)
            return wire.encode_tensor(value, blobs)
        if isinstance(value, torch.Generator):
            blobs.append(wire.tensor_bytes(value.get_state()))
            return {"$": "gen", "device": str(value.device), "b": len(blobs) - 1}
        if isinstance(value, types.SimpleNamespace):
            return {"$": "ns", "v": wire.encode(vars(value), blobs, lambda v: self.other(v, blobs))}
        return self.ref(value)

    def encode(self, value, blobs):
        return wire.encode(value, blobs, lambda v: self.other(v, blobs))

    def tagged(self, obj, blobs):
        tag = obj["$"]
        if tag == "tensor":
            return wire.decode_tensor(obj, blobs)
        if tag == "own":
            return self.objects[obj["id"]]
        if tag == "cb":
            return self.callback(obj["id"])
        if tag == "jmod":
            return JudgeModule(self, obj, blobs)
        if tag == "const":  # a copy, so that a change made by the learner's code stays in that call
            if "v" in obj:
                self.constants[obj["key"]] = self.decode(obj["v"], blobs)
            return copy.copy(self.constants[obj["key"]])
        if tag == "jobj":
            return types.SimpleNamespace(**{name: self.callback(cb) for name, cb in obj["methods"].items()})
        if tag == "ns":
            return types.SimpleNamespace(**self.decode(obj["v"], blobs))
        if tag == "gen":
            generator = torch.Generator(device=obj["device"])
            generator.set_state(torch.frombuffer(bytearray(blobs[obj["b"]]), dtype=torch.uint8))
            return generator
        raise wire.WireError(f"unknown tag {tag!r}")

    def decode(self, obj, blobs):
        return wire.decode(obj, blobs, lambda o: self.tagged(o, blobs))

    # -- calls back into the judge ---------------------------------------------------------------

    def callback(self, cb: int):
        def call_the_judge(*args, **kwargs):
            blobs: list[bytes] = []
            header = {"cb": cb, "args": self.encode(list(args), blobs), "kwargs": self.encode(kwargs, blobs)}
            wire.write_message(self.fd_out, header, blobs)
            while True:
                reply, reply_blobs = self.reader.read()
                if "op" not in reply:
                    break
                self.answer(reply, reply_blobs)  # the judge's callback asks something itself
            if "error" in reply:
                raise CallbackError(int(reply.get("token", 0)), str(reply["error"]))
            return self.decode(reply["value"], reply_blobs)
        return call_the_judge

    # -- requests ----------------------------------------------------------------------------------

    def serve(self) -> None:
        wire.write_message(self.fd_out, {"ready": True, "torch": torch.__version__, "pid": os.getpid()})
        while True:
            try:
                request, blobs = self.reader.read()
            except EOFError:
                return
            self.answer(request, blobs)

    def answer(self, request: dict, blobs: list[bytes]) -> None:
        for handle in request.get("release", ()):
            obj = self.objects.pop(handle, None)
            if obj is not None and self.ids.get(id(obj)) == handle:
                del self.ids[id(obj)]
        out: list[bytes] = []
        try:
            with torch.set_grad_enabled(bool(request.get("grad", True))):
                if request.get("nan"):
                    with NaNInitialisers():
                        value = self.handle(request, blobs)
                else:
                    value = self.handle(request, blobs)
            reply = {"value": self.encode(value, out)}
        except BaseException as error:  # noqa: BLE001 — everything the submission raises is an answer
            out = []
            reply = {"error": describe(error)}
        wire.write_message(self.fd_out, reply, out)

    def handle(self, request: dict, blobs: list[bytes]):
        op = request["op"]
        arg = lambda name: self.decode(request[name], blobs)  # noqa: E731
        if op == "import":
            return importlib.import_module(request["module"])
        if op == "put":  # a file for the submission's code to read (a checkpoint directory)
            path = os.path.join(CONFIG["scratch"], "uploads", request["path"].lstrip("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(blobs[request["b"]])
            return path
        target = arg("obj")
        if op == "getattr":
            return getattr(target, request["name"])
        if op == "setattr":
            return setattr(target, request["name"], arg("value"))
        if op == "call":
            return target(*arg("args"), **arg("kwargs"))
        if op == "operator":  # what Python does for `a + b`, `a[i]`, `len(a)`, ...
            return OPERATORS[request["name"]](target, *arg("args"))
        if op == "iter":
            return list(itertools.islice(iter(target), int(request.get("limit", 1_000_000))))
        if op == "isinstance":
            return isinstance(target, arg("cls"))
        if op == "issubclass":
            return isinstance(target, type) and issubclass(target, arg("cls"))
        if op == "fetch":  # a tensor's values, whatever it is
            return torch.Tensor.detach(target).clone()
        if op == "repr":
            return repr(target)[:2000]
        raise ValueError(f"unknown request {op!r}")


OPERATORS = {
    **{name: getattr(operator, name) for name in (
        "eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
        "matmul", "and_", "or_", "xor", "neg", "pos", "abs", "invert", "getitem", "setitem",
        "delitem", "contains", "index", "iadd", "isub", "imul", "itruediv", "ipow")},
    **{f"r{name}": (lambda f: lambda a, b: f(b, a))(getattr(operator, name)) for name in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor")},
    "len": len, "bool": bool, "int": int, "float": float, "hash": hash, "str": str,
}


class JudgeModule(torch.nn.Module):
    """A model of the judge's (e07's reference, e10's GPT2LMHeadModel): its parameters' names and
    values, so that code which walks them works, and a forward that asks the judge."""

    def __init__(self, worker: Worker, obj: dict, blobs: list[bytes]):
        super().__init__()
        self._forward = worker.callback(obj["cb"])
        self.config = types.SimpleNamespace(**worker.decode(obj["config"], blobs))
        for name, value in worker.decode(obj["state"], blobs).items():
            *path, leaf = name.split(".")
            owner = self
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, torch.nn.Module())
                owner = owner._modules[part]
            if obj["params"].get(name):
                owner.register_parameter(leaf, torch.nn.Parameter(value))
            else:
                owner.register_buffer(leaf, value)
        self.train(bool(obj.get("training", False)))

    def forward(self, *args, **kwargs):
        return self._forward(*args, **kwargs)


def describe(error: BaseException) -> dict:
    frames = traceback.extract_tb(error.__traceback__)[-30:]
    found = {"type": type(error).__name__,
             "mro": [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__],
             "message": _text(error)[:4000],
             "frames": [[f.filename, f.lineno or 0, f.name, (f.line or "")[:300]] for f in frames]}
    if isinstance(error, SyntaxError):
        found["syntax"] = [str(error.filename or ""), error.lineno or 0, (error.text or "")[:300], str(error.msg)]
    token = next((e.token for e in _chain(error) if isinstance(e, CallbackError)), None)
    if token is not None:
        found["token"] = token
    return found


def _text(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException:  # noqa: BLE001 — a __str__ that raises
        return f"<{type(error).__name__} that cannot be printed>"


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def zygote() -> None:
    """Fork a worker for each socket the judge sends; first, kill what the last one left running.

    Only inside the sandbox's PID namespace, where kill(-1) reaches the processes a submission
    started and nothing else (gpt2lab.teacher.sandbox never starts a zygote without the sandbox).
    A zygote kept for a class serves one submission after another: "r" (reset) kills everything
    the last one started, waits until it is gone and empties the scratch space, before the judge
    puts the next submission's files in place. The zygote is not dumpable, so that the workers
    (the same uid) cannot ptrace it or read its memory; it runs no code of a submission.
    """
    import ctypes
    import socket

    for name in CONFIG.get("preload", ()):  # "transformers:GPT2LMHeadModel": import it and the attribute
        module, _, attribute = name.partition(":")
        loaded = importlib.import_module(module)
        if attribute:
            getattr(loaded, attribute)
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0 (children inherit it until they exec)
    control = socket.socket(fileno=PROTO_IN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for n in itertools.count():
        message, fds, _, _ = socket.recv_fds(control, 16, 1)
        if message == b"r" and not fds:
            reset()
            control.sendall(b"k")
            continue
        if not message or not fds:
            return
        stop_the_others()
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            CONFIG["scratch"] = os.environ["HOME"] = f"/tmp/{n}"
            os.makedirs(CONFIG["scratch"])
            os.chdir(CONFIG["scratch"])
            apply_limits()
            importlib.invalidate_caches()  # the judge may have put new exercise files in place
            try:
                Worker(fds[0], fds[0]).serve()
            finally:
                os._exit(0)
        os.close(fds[0])


def stop_the_others() -> None:
    """SIGKILL every process of the sandbox but this one and its PID 1 (the previous exercise's)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reset(wait: float = 10.0) -> None:
    """Between two submissions: no process of the last one left, not even dying, and /tmp empty.
    Whatever goes wrong here ends the zygote without an answer: the judge then starts a new sandbox."""
    import stat
    import time

    stop_the_others()
    deadline = time.monotonic() + wait
    while _others() and time.monotonic() < deadline:
        time.sleep(0.005)
    todo = [(entry.path, False) for entry in os.scandir(CONFIG["scratch"])]
    while todo:  # depth first, without recursion: a folder is removed once emptied
        path, emptied = todo.pop()
        if emptied:
            os.rmdir(path)
        elif stat.S_ISDIR(os.lstat(path).st_mode):
            os.chmod(path, 0o700)  # the last submission may have made it unreadable: it was its own
            todo.append((path, True))
            todo += [(os.path.join(path, name), False) for name in os.listdir(path)]
        else:
            os.unlink(path)


def _others() -> list[int]:
    """The processes of the sandbox still alive (zombies are not: they run nothing), but 1 and this one."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, os.getpid()):
            try:
                with open(f"/proc/{name}/stat") as stat:
                    if stat.read().rpartition(")")[2].split()[0] != "Z":
                        found.append(int(name))
            except OSError:
                pass
    return found


if __name__ == "__main__":
    if CONFIG.get("zygote"):
        zygote()
    else:
        apply_limits()
        Worker().serve()
