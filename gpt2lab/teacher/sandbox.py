"""Start a worker: inside bubblewrap, or (with --no-sandbox) as a plain process.

The sandbox (bwrap, the one under Flatpak) gives the worker new namespaces (PID: every process it
starts dies with it; no network; its own IPC, UTS and mounts), an unprivileged uid, a read-only
view of the interpreter and of a site-packages that holds only the packages a learner may use
(torch, numpy, einops, regex and what they need: transformers is not there, so it cannot be
imported), the worker's runtime, the submission's exercise files (regular files the grader
copied), and a small private tmpfs as its only writable place. Nothing else of this machine is
visible: not the teacher's repository, not the home directory, not the grader's files.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata as metadata
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gpt2lab.teacher.remote import Connection, WorkerGone, kill

RUNTIME = Path(__file__).resolve().parent / "runtime"
LEARNER_PACKAGES = ("torch", "numpy", "einops", "regex")  # what the exercises may import
PRETRAINED_PACKAGES = ("transformers",)  # e06's from_pretrained, in a worker of its own
PRELOAD = ["transformers:GPT2LMHeadModel", "transformers:GPT2Config"]  # imported by a pretrained zygote
NOBODY = 65534
MAX_SENT = 1 << 31  # bytes the judge may send in one message: GPT-2 124M's weights are 0.5 GB
INSTALL = ("bubblewrap is needed to grade: the submission's code runs in its sandbox.\n"
           "  Debian/Ubuntu: sudo apt-get install bubblewrap   Fedora: sudo dnf install bubblewrap\n"
           "  On Ubuntu 24.04 and later, unprivileged user namespaces are also restricted by AppArmor:\n"
           "  sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0\n"
           "  Without a sandbox (macOS, some containers), `--no-sandbox` grades anyway and grades.json\n"
           "  records \"sandbox\": false: the submission's code then runs as you, with your files.")


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 6144  # beyond the worker's own footprint once torch is imported
    processes: int = 256  # threads count: torch starts a few per core
    file_mb: int = 64  # one file, and the log
    scratch_mb: int = 256  # the tmpfs


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=None)
def site_entries(roots: tuple[str, ...]) -> tuple[Path, ...]:
    """The files and folders in site-packages of `roots` and everything they require."""
    seen, todo, found = set(), list(roots), []
    while todo:
        name = todo.pop()
        if _normal(name) in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(_normal(name))
        for requirement in dist.requires or ():
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
        base = Path(dist.locate_file(""))
        for top in sorted({f.parts[0] for f in dist.files or () if f.parts and f.parts[0] != ".."}):
            if (base / top).exists():
                found.append(base / top)
    return tuple(dict.fromkeys(found))


def stdlib_dirs() -> list[Path]:
    """The standard library and its compiled modules (those of the base interpreter, not a venv's)."""
    stdlib = Path(os.__file__).resolve().parent
    return [d for d in (stdlib, stdlib / "lib-dynload") if d.exists()]


def interpreter() -> Path:
    return Path(os.path.realpath(sys.executable))


@functools.lru_cache(maxsize=1)
def probe() -> str | None:
    """None when bubblewrap can build the sandbox here; else why not, and what to install."""
    if shutil.which("bwrap") is None:
        return "bwrap was not found.\n" + INSTALL
    try:
        run = subprocess.run(["bwrap", *_namespaces(), "--ro-bind", "/", "/", "--", "true"],
                             capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run ({error}).\n" + INSTALL
    if run.returncode:
        return f"bwrap cannot create namespaces here: {run.stderr.decode(errors='replace').strip()}\n" + INSTALL
    return None


def _namespaces() -> list[str]:
    shared = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    if os.getuid() == 0:  # the worker drops to nobody itself, before the submission's code runs
        return shared
    return ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns", *shared]


def bwrap_command(exercises: Path, *, pretrained: bool, limits: Limits, device: str) -> tuple[list[str], dict]:
    """The bwrap command line that runs the worker, and its configuration."""
    python = interpreter()
    args = ["bwrap", *_namespaces(), "--clearenv", "--proc", "/proc", "--dev", "/dev"]
    for system in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/ld.so.conf",
                   "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group"):
        args += ["--ro-bind-try", system, system]
    prefix = Path(sys.base_prefix)
    for parent in reversed(prefix.parents[:-1]):  # bwrap would make them 0700: nobody could not enter
        args += ["--perms", "0755", "--dir", str(parent)]
    args += ["--ro-bind", str(prefix), str(prefix)]
    for site in {Path(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}:
        if site.is_relative_to(prefix) and site.exists():
            args += ["--tmpfs", str(site)]  # the interpreter's own packages: not the learner's
    if not python.is_relative_to(prefix):
        for parent in reversed(python.parents[:-1]):
            args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(python), str(python)]
    packages = LEARNER_PACKAGES + (PRETRAINED_PACKAGES if pretrained else ())
    args += ["--perms", "0755", "--dir", "/site", "--perms", "0755", "--dir", "/submission"]
    for entry in site_entries(packages):
        args += ["--ro-bind", str(entry), f"/site/{entry.name}"]
    if device == "cuda":
        for node in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(node), str(node)]
    args += ["--ro-bind", str(RUNTIME), "/runtime", "--ro-bind", str(exercises), "/submission/exercises",
             "--size", str(limits.scratch_mb << 20), "--perms", "1777", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "HF_HOME": "/tmp/hf", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": "/tmp"}
    for key, value in env.items():
        args += ["--setenv", key, value]
    config = {"path": [*map(str, stdlib_dirs()), "/site", "/runtime", "/submission"], "scratch": "/tmp",
              "uid": NOBODY if os.getuid() == 0 else None, "gid": NOBODY}
    return [*args, "--", str(python), "-I", "-S", "-B", "/runtime/worker.py"], config


def plain_command(exercises: Path, scratch: Path, *, pretrained: bool) -> tuple[list[str], dict]:
    """--no-sandbox: the same worker as a plain process, with a site-packages of links."""
    site = scratch / "site"
    site.mkdir(parents=True, exist_ok=True)
    for entry in site_entries(LEARNER_PACKAGES + (PRETRAINED_PACKAGES if pretrained else ())):
        if not (site / entry.name).exists():
            (site / entry.name).symlink_to(entry)
    shutil.copytree(exercises, scratch / "submission" / "exercises")
    config = {"path": [*map(str, stdlib_dirs()), str(site), str(RUNTIME), str(scratch / "submission")],
              "scratch": str(scratch / "tmp"), "uid": None, "gid": None}
    (scratch / "tmp").mkdir(exist_ok=True)
    return [str(interpreter()), "-I", "-S", "-B", str(RUNTIME / "worker.py")], config


def start(exercises: Path, *, sandbox: bool = True, pretrained: bool = False, device: str = "cpu",
          threads: int = 1, limits: Limits = Limits(), log: Path | None = None,
          startup: float = 120.0, label: str = "") -> Connection:
    """A worker for the exercise files in `exercises`, starting: its first request waits until it
    has imported torch (at most `startup` seconds), so that several can start at once."""
    scratch = Path(tempfile.mkdtemp(prefix="gpt2lab-worker-"))
    if sandbox:
        argv, config = bwrap_command(exercises, pretrained=pretrained, limits=limits, device=device)
        env = None
    else:
        argv, config = plain_command(exercises, scratch, pretrained=pretrained)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": config["scratch"],
               "HF_HOME": str(scratch / "hf"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    config.update(_runtime(device, threads, limits))
    argv = [*argv, json.dumps(config)]
    log_file = open(log or scratch / "worker.log", "ab")
    process = _popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, env=env, cwd=scratch)
    log_file.close()
    conn = Connection(process.stdout.fileno(), process.stdin.fileno(), end=functools.partial(_end, process),
                      label=label, device=device, startup=startup)
    conn.scratch, conn.log = scratch, Path(log_file.name)
    return conn


def _end(process: subprocess.Popen, wait: float) -> int | None:
    """Kill a worker; the exit code it ended with by itself, if it had (a crash, the OOM killer)."""
    try:
        code = process.wait(timeout=wait) if wait else process.poll()
    except subprocess.TimeoutExpired:
        code = None
    end_sandbox(process)
    return code


def _popen(argv: list[str], **options) -> subprocess.Popen:
    """Popen in a session of its own; bwrap with --info-fd, to learn its first process's pid."""
    if argv[0] != "bwrap":
        return subprocess.Popen(argv, start_new_session=True, **options)
    read, write = os.pipe()
    try:
        process = subprocess.Popen([argv[0], "--info-fd", str(write), *argv[1:]], pass_fds=(write,),
                                   start_new_session=True, **options)
    finally:
        os.close(write)
    process.info_fd = read
    return process


def end_sandbox(process: subprocess.Popen) -> None:
    """SIGKILL a worker, and return once every process it started is gone. bwrap's first process
    is PID 1 of the sandbox: the kernel ends it only after killing everything else inside, so
    waiting for it to end is waiting for the whole sandbox (the processes a submission forked)."""
    inner = _inner_pid(process)
    if inner:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(inner, signal.SIGKILL)
    kill(process)
    deadline = time.monotonic() + 10
    while inner and _alive(inner) and time.monotonic() < deadline:
        time.sleep(0.01)


def _inner_pid(process: subprocess.Popen) -> int | None:
    fd = getattr(process, "info_fd", None)
    if fd is None:
        return getattr(process, "inner_pid", None)
    process.info_fd = None
    try:
        if select.select([fd], [], [], 2)[0]:
            process.inner_pid = int(json.loads(os.read(fd, 65536).decode().split("\n}")[0] + "}")["child-pid"])
    except (OSError, ValueError, KeyError):
        process.inner_pid = None
    finally:
        os.close(fd)
    return getattr(process, "inner_pid", None)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


class Zygote:
    """A sandbox whose worker has imported torch once and forks a fresh worker for each exercise
    (killing first whatever the previous exercise left running): what makes grading fast. Each
    spawned worker speaks on its own socket, passed into the sandbox with SCM_RIGHTS. A pretrained
    zygote can import transformers, and has imported it (e06's from_pretrained)."""

    def __init__(self, exercises: Path, *, pretrained: bool = False, device: str = "cpu", threads: int = 1,
                 limits: Limits = Limits(), log: Path | None = None, startup: float = 120.0):
        self.scratch = Path(tempfile.mkdtemp(prefix="gpt2lab-zygote-"))
        self.device, self.startup = device, startup
        self.log = log or self.scratch / "zygote.log"
        argv, config = bwrap_command(exercises, pretrained=pretrained, limits=limits, device=device)
        config.update(_runtime(device, threads, limits), zygote=True, preload=PRELOAD if pretrained else [])
        self.control, theirs = socket.socketpair()
        with open(self.log, "ab") as log_file:
            self.process = _popen([*argv, json.dumps(config)], stdin=theirs.fileno(), stdout=log_file,
                                  stderr=log_file, cwd=self.scratch)
        theirs.close()

    def spawn(self, label: str = "") -> Connection:
        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(self.control, [b"w"], [theirs.fileno()])
        except OSError:
            ours.close()
            raise WorkerGone("crashed", "the submission's sandbox ended") from None
        finally:
            theirs.close()

        def end(wait: float) -> None:
            ours.close()  # the zygote kills the process at the next spawn, the sandbox at the end

        conn = Connection(ours.fileno(), ours.fileno(), end=end, label=label, device=self.device,
                          startup=self.startup)
        conn.socket = ours
        return conn

    def reset(self, timeout: float = 30.0) -> bool:
        """Kill every process the last submission started, empty the scratch space and the log;
        False when the zygote does not answer (it died, or the last submission stopped it)."""
        try:
            self.control.sendall(b"r")
            ready = select.select([self.control], [], [], timeout)[0]
            answered = bool(ready) and self.control.recv(1) == b"k"
        except OSError:
            answered = False
        if answered:
            with contextlib.suppress(OSError):
                os.truncate(self.log, 0)  # the log's size limit is the next submission's again
        return answered

    def close(self) -> None:
        self.control.close()
        end_sandbox(self.process)
        shutil.rmtree(self.scratch, ignore_errors=True)


class Kept:
    """The zygotes of a judge process that grades one submission after another (a class): started
    once, each given the next submission's files in a folder of its own (bound read-only into its
    sandbox) only after a reset has ended every process of the last submission and emptied its
    scratch space. A zygote that does not answer its reset within `answer_within` seconds (it
    died, or the last submission stopped it) is replaced by a new sandbox."""

    def __init__(self, answer_within: float = 10.0):
        self.answer_within = answer_within
        self.zygotes: dict[tuple, Zygote] = {}
        self.used: set[tuple] = set()  # handed to a submission since their last reset

    def zygote(self, exercises: Path, *, pretrained: bool, device: str, threads: int, limits: Limits,
               startup: float = 120.0) -> Zygote:
        key = (pretrained, device, threads, limits)
        if key in self.used:
            self._reset(key)
        zygote = self.zygotes.get(key)
        if zygote is None:
            folder = Path(tempfile.mkdtemp(prefix="gpt2lab-kept-")) / "exercises"
            folder.mkdir(mode=0o755)
            zygote = Zygote(folder, pretrained=pretrained, device=device, threads=threads, limits=limits,
                            startup=startup)
            zygote.folder = folder
            self.zygotes[key] = zygote
        _replace(zygote.folder, exercises)
        self.used.add(key)
        return zygote

    def release(self) -> None:
        """The submission is judged: stop what it left running now, not at the next one."""
        for key in list(self.used):
            self._reset(key)

    def _reset(self, key: tuple) -> None:
        self.used.discard(key)
        zygote = self.zygotes[key]
        if not zygote.reset(self.answer_within):
            self._close(self.zygotes.pop(key))

    def close(self) -> None:
        for zygote in self.zygotes.values():
            self._close(zygote)
        self.zygotes.clear()
        self.used.clear()

    @staticmethod
    def _close(zygote: Zygote) -> None:
        zygote.close()
        shutil.rmtree(zygote.folder.parent, ignore_errors=True)


def _replace(folder: Path, exercises: Path) -> None:
    """`folder` holds exactly the files of `exercises` (regular files, readable by the sandbox's user)."""
    for old in folder.iterdir():
        old.unlink()
    for new in exercises.iterdir():
        if new.is_file() and not new.is_symlink():
            shutil.copyfile(new, folder / new.name)
            (folder / new.name).chmod(0o644)


def _runtime(device: str, threads: int, limits: Limits) -> dict:
    """The worker's settings that do not depend on where it runs."""
    return {"device": device, "threads": threads, "memory_mb": limits.memory_mb, "nproc": limits.processes,
            "fsize": limits.file_mb << 20, "max_message": MAX_SENT}


def close(conn: Connection) -> None:
    conn.close()
    shutil.rmtree(getattr(conn, "scratch", ""), ignore_errors=True)
