"""What makes a grade trustworthy: the learner's code must implement the exercise, not borrow it.

Two layers, because neither is enough alone.

1. A static check (`scan`), run by the grader on a copy of the submission before any of it is
   imported. It reads each exercise file, and the learner's files it imports, with `ast` and
   refuses:
   - imports of what the exercise is compared with or graded by: `transformers` (Hugging Face's
     GPT-2), `tokenizers`/`tiktoken`, `solutions`, `gpt2lab` (the reference builders and the
     verdicts), `tests` (the suites), `pytest`/`unittest` (skipping a test is not passing it);
     in `import` statements, `from ... import`, and as strings given to `__import__`;
   - the ways around the import check and the grader: loading modules by computed names
     (`importlib`, `__import__` with a non-literal, `exec`/`eval`/`compile`), the interpreter's
     internals (`sys.modules`, `sys.setprofile`, frames, `gc`, `ctypes`), leaving the process
     (`os._exit`, `sys.exit`, subprocesses, signals, threads);
   - monkeypatching: assigning to, or deleting, an attribute of an imported module or class
     (`torch.allclose = ...`, `nn.Module.__call__ = ...`, `setattr(torch, ...)`).
   No GPT-2 exercise needs any of these; the one use of Hugging Face a kata asks for is listed in
   LOADERS (e06 reads OpenAI's checkpoint with transformers' loader). A finding names the file,
   the line and why it is refused; `nox -s check` prints the same findings as a warning.

2. A runtime guard (`Guard`), in the process that runs the learner's code, for what a static check
   cannot see (an import spelled at run time, a call made through an object). Installed *before*
   the learner's module is imported, it
   - wraps `builtins.__import__` and `importlib.import_module`: an import statement of the
     learner's code that names a forbidden module is refused and recorded;
   - sets a profile hook (`sys.setprofile`) while each test runs, which refuses (raising
     `IntegrityError`, and recording it): the solutions or gpt2lab's reference builders called by
     the learner's code; a Hugging Face function called by the learner's code; a Hugging
     Face module built under the learner's code running a forward pass, whoever calls it. The
     suites may hand the learner's code objects of their own (e07 generates text from Hugging
     Face's model; hooks and callbacks are the suites' code): those run freely. The same hook
     notes the version counters of the tensors the test passes into the learner's code and fails
     a test whose inputs were changed in place (the test computes the reference from the same
     tensor afterwards: zeroing it would make a wrong answer match);
   - fingerprints, after the suites are imported and before the learner's module is, everything
     a verdict relies on: every function and class of gpt2lab, of the suites and of transformers'
     GPT-2 modules (identity, `__code__`, defaults), the attributes of `torch`, `torch.Tensor`,
     `torch.nn.Module`, `torch.nn.functional` and `builtins`, torch's global hooks, modes and
     numerics flags, `sys.meta_path`. After every test the fingerprint is compared: a learner
     module that replaced `torch.allclose`, `gpt2lab.verdict.expect_close` or a reference module
     is caught even when it did so through a route the static check did not see;
   - after the learner's modules are imported, refuses classes that extend Hugging Face's or the
     grader's, and module names bound to their objects (`audit`).
   A violation fails the test in which it happens and is recorded; the grader gives the exercise
   zero points and writes the explanation into grades.json.

What this does not claim: code running in the same process as the grader can, with enough
deliberate effort, defeat any in-process check. The layers make every way around them an
explicit act (and a visible one in the source the teacher can read); the grader also signs its
result (see gpt2lab.grading) so that a result file written by the learner's code is rejected.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Top-level modules an exercise may not import, and why (the learner reads this sentence).
FORBIDDEN_MODULES: dict[str, str] = {
    "transformers": "Hugging Face's GPT-2 is what your code is compared with: calling it is not "
                    "implementing the exercise",
    "tokenizers": "Hugging Face's tokenizers are the reference of the tokenizer exercise",
    "tiktoken": "OpenAI's tokenizer is the reference of the tokenizer exercise",
    "huggingface_hub": "the exercises build GPT-2 themselves, nothing is downloaded",
    "solutions": "the reference solutions are not yours to import",
    "gpt2lab": "gpt2lab builds the references and the verdicts your code is graded by",
    "tests": "the hidden suites are not yours to import",
    "pytest": "skipping or faking a test is not passing it",
    "_pytest": "skipping or faking a test is not passing it",
    "unittest": "skipping or faking a test is not passing it",
    "importlib": "loading modules by name hides what your code imports",
    "imp": "loading modules by name hides what your code imports",
    "runpy": "loading modules by name hides what your code imports",
    "pkgutil": "loading modules by name hides what your code imports",
    "zipimport": "loading modules by name hides what your code imports",
    "builtins": "replacing Python's built-in functions changes the grader too",
    "ctypes": "reaching into the interpreter's memory is not implementing the exercise",
    "gc": "walking the interpreter's objects is not implementing the exercise",
    "inspect": "reading the grader's frames is not implementing the exercise",
    "subprocess": "an exercise runs inside the grader: no other processes",
    "multiprocessing": "an exercise runs inside the grader: no other processes",
    "signal": "an exercise runs inside the grader: no signals",
    "threading": "an exercise runs inside the grader: no threads",
    "_thread": "an exercise runs inside the grader: no threads",
    "concurrent": "an exercise runs inside the grader: no threads or processes",
}

# Attributes of allowed modules that reach around the grader (`from os import _exit` included).
FORBIDDEN_NAMES: dict[str, str] = {
    **{f"sys.{n}": "the interpreter's import and tracing machinery belongs to the grader"
       for n in ("modules", "meta_path", "path_hooks", "setprofile", "settrace", "_getframe",
                 "addaudithook", "exit")},
    **{f"os.{n}": "an exercise runs inside the grader: it may not end or leave the process"
       for n in ("_exit", "abort", "kill", "killpg", "fork", "forkpty", "system", "popen",
                 "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe",
                 "spawnv", "spawnve", "spawnl", "spawnle", "posix_spawn", "posix_spawnp")},
}

# Built-in functions that run or load code the grader cannot read, or end the process.
FORBIDDEN_CALLS = {
    "__import__": "imports a module by name: write a plain `import` statement",
    "exec": "runs code built from a string, which the grader cannot check",
    "eval": "runs code built from a string, which the grader cannot check",
    "compile": "builds code from a string, which the grader cannot check",
    "exit": "an exercise may not end the grader's process",
    "quit": "an exercise may not end the grader's process",
    "globals": "reaches into module namespaces by name",
}

# Attributes that lead into frames, code objects and namespaces.
FORBIDDEN_ATTRIBUTES = {
    "__code__", "__globals__", "__closure__", "__builtins__", "__subclasses__", "__import__",
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "gi_frame", "cr_frame",
    "ag_frame", "_getframe",
}

# Hugging Face code an exercise asks for, by exercise file: e06 reads OpenAI's checkpoint with
# transformers' loader (`GPT2LMHeadModel.from_pretrained`), as nanoGPT does, and copies the weights
# into the learner's own modules. That file may import transformers, and transformers' code may run
# inside these functions (and at import); a module it builds may never compute (Guard, rule 2).
LOADERS: dict[str, frozenset[str]] = {"e06_gpt2": frozenset({"from_pretrained"})}

MONKEYPATCH = ("changes {target}, which the grader and the reference use too (monkeypatching); "
               "keep your changes inside your own classes and functions")


@dataclass(frozen=True)
class Violation:
    """One reason a submission's exercise is refused."""

    file: str  # relative to the submission, e.g. "exercises/e02_mlp.py"
    line: int  # 0 when not known (runtime findings)
    what: str  # "imports transformers"
    why: str  # the explanation meant for the learner

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.what} — {self.why}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": f"{self.what} — {self.why}"}


class IntegrityError(AssertionError):
    """Raised in the learner's call stack when it calls what it must implement."""


# ----------------------------------------------------------------------------------------------
# The static check
# ----------------------------------------------------------------------------------------------


def _forbidden_module(name: str) -> str | None:
    return FORBIDDEN_MODULES.get(name.partition(".")[0])


def _dotted(node: ast.AST) -> list[str] | None:
    """`torch.nn.functional` -> ["torch", "nn", "functional"]; None unless a chain of names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _root(node: ast.AST) -> str | None:
    """The name an attribute / subscript / call chain starts from: `torch.Tensor.x[0]` -> torch."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Scanner(ast.NodeVisitor):
    def __init__(self, file: str, package: str, allowed: frozenset[str] = frozenset()):
        self.file = file
        self.package = package  # the learner's package name: its own modules are allowed
        self.allowed = allowed  # top-level modules this file may import after all (LOADERS)
        self.found: list[Violation] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted module path it stands for
        self.imported: set[str] = set()  # local names bound to something outside the learner's code

    def flag(self, node: ast.AST, what: str, why: str) -> None:
        self.found.append(Violation(self.file, getattr(node, "lineno", 0), what, why))

    # imports ---------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
            local = alias.asname or alias.name.partition(".")[0]
            self.aliases[local] = alias.name if alias.asname else local
            if alias.name.partition(".")[0] != self.package:
                self.imported.add(local)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:  # relative: the learner's own modules
            return
        module = node.module or ""
        self._check_module(node, module)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if full in FORBIDDEN_NAMES:
                self.flag(node, f"imports {full}", FORBIDDEN_NAMES[full])
            local = alias.asname or alias.name
            self.aliases[local] = full
            if module.partition(".")[0] != self.package:
                self.imported.add(local)

    def _check_module(self, node: ast.AST, name: str) -> None:
        why = _forbidden_module(name)
        if why and name.partition(".")[0] not in self.allowed:
            self.flag(node, f"imports {name}", why)

    # calls -----------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS and func.id not in self.aliases:
            if func.id == "__import__" and literal:
                self.flag(node, f"imports {literal} through __import__",
                          _forbidden_module(literal) or FORBIDDEN_CALLS["__import__"])
            else:
                self.flag(node, f"calls {func.id}()", FORBIDDEN_CALLS[func.id])
        dotted = _dotted(func)
        if dotted and dotted[-1] == "import_module":
            self.flag(node, f"imports {literal or 'a module by a computed name'} through import_module",
                      (_forbidden_module(literal) if literal else None) or FORBIDDEN_MODULES["importlib"])
        # setattr(torch, ...), delattr(...), torch.__setattr__(...), object.__setattr__(torch, ...)
        targets = []
        if isinstance(func, ast.Name) and func.id in ("setattr", "delattr"):
            targets = [first]
        elif isinstance(func, ast.Attribute) and func.attr in ("__setattr__", "__delattr__"):
            targets = [func.value, first]
        for target in targets:
            if target is not None and _root(target) in self.imported:
                self.flag(node, f"changes an attribute of {ast.unparse(target)}",
                          MONKEYPATCH.format(target=ast.unparse(target)))
                break
        self.generic_visit(node)

    # names and attributes ----------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self.flag(node, f"uses .{node.attr}", "frames, code objects and namespaces belong to the "
                      "grader: an exercise needs none of them")
        dotted = _dotted(node)
        if dotted:  # sys.modules, os._exit, and the same reached through another module: torch.sys.modules
            dotted[0] = self.aliases.get(dotted[0], dotted[0])
            pairs = ".".join(dotted).split(".")
            for first, second in zip(pairs, pairs[1:]):
                name = f"{first}.{second}"
                if name in FORBIDDEN_NAMES:
                    self.flag(node, f"uses {name}", FORBIDDEN_NAMES[name])
                    break
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.flag(node, "uses __builtins__", "replacing Python's built-ins changes the grader too")

    # monkeypatching ----------------------------------------------------------------------------
    def _check_target(self, target: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._check_target(element)
        elif isinstance(target, (ast.Attribute, ast.Subscript)) and _root(target) in self.imported:
            self.flag(target, f"assigns to {ast.unparse(target)}",
                      MONKEYPATCH.format(target=ast.unparse(target)))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target)
        # `T = torch.Tensor` makes T an alias of something imported: `T.__eq__ = f` is a patch too
        # (`x = torch.zeros(3)` does not: a call's result is the learner's own object)
        if _dotted(node.value) and _root(node.value) in self.imported:
            self.imported |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_target(target)
        self.generic_visit(node)


def scan_source(source: str, file: str, package: str = "exercises") -> list[Violation]:
    """The static check of one file's source; `file` (its path in the submission) names it in
    messages and, through its stem, says which LOADERS allowance applies."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError:
        return []  # the suite reports the syntax error itself, with the line
    allowed = frozenset({"transformers"}) if Path(file).stem in LOADERS else frozenset()
    scanner = _Scanner(file, package, allowed)
    # imports first, wherever they are, so that names are known when attributes are visited
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            scanner.visit(node)
    scanner.found.clear()
    scanner.visit(tree)
    return sorted(set(scanner.found), key=lambda v: (v.line, v.what))


def local_imports(path: Path, package: str = "exercises") -> set[str]:
    """Names of the learner's modules that the file at `path` imports (relative or by package)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .e02_mlp import / from . import
            names |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] == package:  # from exercises.e02_mlp import ...
            rest = node.module.split(".")[1:]
            names |= {rest[0]} if rest else {a.name for a in node.names}
        elif isinstance(node, ast.Import):  # import exercises.e02_mlp
            names |= {a.name.split(".")[1] for a in node.names
                      if a.name.split(".")[0] == package and "." in a.name}
    return names


def scan(package_dir: Path, module: str, *, relative_to: Path | None = None) -> list[Violation]:
    """The static check of one exercise: its file and, transitively, the learner's files it imports."""
    package = package_dir.name
    base = relative_to or package_dir.parent
    seen: set[str] = set()
    todo = [module]
    found: list[Violation] = []
    while todo:
        name = todo.pop()
        path = package_dir / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        rel = path.relative_to(base).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            found.append(Violation(rel, 0, "is not UTF-8 text", "save the file as UTF-8"))
            continue
        found += scan_source(source, rel, package)
        todo += sorted(local_imports(path, package) - seen)
    return found


# ----------------------------------------------------------------------------------------------
# The runtime guard
# ----------------------------------------------------------------------------------------------

# What code is, for the guard: the learner's; Hugging Face's; the solutions and the reference
# builders (never called by the learner's code, not even indirectly); the suites (they hand the
# learner's code callbacks and hooks: no rule, but a boundary); everything else (torch, Python).
LEARNER, HF, STRICT, SUITE, OTHER = 1, 2, 3, 4, 0
HF_PACKAGES = ("transformers", "tokenizers", "tiktoken", "huggingface_hub")
# gpt2lab's modules that build references: their top-level functions are strict, the rest of their
# code (a reference module's forward) is a boundary like the suites'.
REFERENCE_MODULES = ("gpt2lab.reference", "gpt2lab.tokenizer")
GRADER_PACKAGES = ("solutions", "gpt2lab", "tests")


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve().parent if spec.origin else None


def _owner_package(value: object) -> str:
    """The top-level package that defines a class or a function, or else an object's class."""
    if isinstance(value, (type, types.FunctionType)):
        module = value.__module__
    else:
        module = type(value).__module__
    return (module or "").partition(".")[0]


def _fingerprint(value: object) -> tuple:
    """What must not change about an attribute: the object, and for a function its code (also
    the function inside an lru_cache or functools.wraps wrapper)."""
    fingerprint = [id(value)]
    for function in (value, _wrapped(value)):
        if isinstance(function, types.FunctionType):
            fingerprint += [id(function.__code__), id(function.__defaults__), id(function.__kwdefaults__)]
    return tuple(fingerprint)


def _wrapped(value: object) -> object:
    try:
        return vars(value).get("__wrapped__")
    except TypeError:  # no __dict__
        return None


class Snapshot:
    """Fingerprints of namespaces (modules, classes) taken before the learner's code runs."""

    def __init__(self):
        self.entries: dict[tuple[str, str], tuple] = {}
        self.namespaces: dict[str, object] = {}
        self.closed: dict[str, set[str]] = {}  # classes that may not gain attributes

    def add(self, label: str, namespace: object, *, classes_of: str | None = None,
            closed: bool = False) -> None:
        """Fingerprint every attribute of `namespace`; with `classes_of`, also those of the classes
        it defines (whose __module__ is classes_of). `closed`: a new attribute counts as a change
        (on torch.Tensor it would shadow a method of the base class)."""
        try:
            items = list(vars(namespace).items())
        except TypeError:
            return
        self.namespaces[label] = namespace
        if closed:
            self.closed[label] = {name for name, _ in items}
        for name, value in items:
            self.entries[(label, name)] = _fingerprint(value)
            if classes_of and isinstance(value, type) and value.__module__ == classes_of:
                self.add(f"{label}.{name}", value)

    def changed(self) -> list[str]:
        """Attributes replaced or deleted since the snapshot, and attributes added to closed classes
        (new names elsewhere are fine: modules load submodules and classes cache values lazily)."""
        changed = []
        for (label, name), fingerprint in self.entries.items():
            namespace = vars(self.namespaces[label])
            if name not in namespace:
                changed.append(f"{label}.{name} (deleted)")
            elif _fingerprint(namespace[name]) != fingerprint:
                changed.append(f"{label}.{name}")
        for label, keys in self.closed.items():
            changed += [f"{label}.{name} (added)" for name in vars(self.namespaces[label]) if name not in keys]
        return changed


def _torch_state() -> dict[str, object]:
    """Global torch settings and hooks that would change every result if the learner changed them."""
    import torch
    from torch.nn.modules import module

    state: dict[str, object] = {name: len(getattr(module, name)) for name in dir(module)
                                if name.startswith("_global_") and isinstance(getattr(module, name), dict)}
    state.update({
        "the default dtype": torch.get_default_dtype(),
        "TF32 in matmul": torch.backends.cuda.matmul.allow_tf32,
        "TF32 in cuDNN": torch.backends.cudnn.allow_tf32,
        "torch function modes": torch._C._len_torch_function_stack(),
        "torch dispatch modes": torch._C._len_torch_dispatch_stack(),
    })
    return state


class Guard:
    """The runtime guard of one grading process; see the module docstring.

    learner_dir: the directory of the learner's package; hf_dirs: Hugging Face's packages;
    strict_dirs: code the learner's code may not call (the solutions); suite_dirs: the suites and
    the reference modules (code that hands objects and callbacks to the learner's code: a boundary,
    no rule); protected: prefixes of the modules whose functions and classes are fingerprinted.
    The top-level functions of REFERENCE_MODULES (the reference builders) are strict too.

    Rules, checked by a profile hook while a test runs (setup, call and teardown). The suites hand
    the learner's code objects of their own (a Hugging Face model to generate from, a tokenizer,
    forward hooks), so the rules look at who built an object and who calls what:
    1. An import statement in the learner's code may not import a forbidden module (LOADERS aside).
    2. The solutions and the reference builders are refused when the learner's code calls them
       (the nearest caller that is not torch's or Python's is a learner frame).
    3. A Hugging Face top-level function called by the learner's code is refused outside a loader.
    4. A Hugging Face module built while a learner frame was on the stack never computes: its
       forward is refused whoever calls it (returning it, or making it an attribute that torch
       calls, does not help), and its other methods are refused when the learner's code calls
       them outside a loader (LOADERS: e06's from_pretrained reads a checkpoint this way).
    5. A test whose tensors were changed in place by the learner's code fails (_tensor_versions).
    6. A Hugging Face module the test hands to the learner's code (e07 generates from GPT-2's own
       model) may be called, model(idx); its other methods (generate, ...) are refused.
    """

    def __init__(self, learner_dir: Path, hf_dirs: Iterable[Path], strict_dirs: Iterable[Path],
                 suite_dirs: Iterable[Path], *,
                 protected: tuple[str, ...] = ("gpt2lab", "tests", "transformers.models.gpt2",
                                               "transformers.pytorch_utils", "transformers.activations")):
        self.learner_dir = str(Path(learner_dir).resolve())
        self.hf_dirs = tuple(str(Path(p).resolve()) for p in hf_dirs)
        self.strict_dirs = tuple(str(Path(p).resolve()) for p in strict_dirs)
        self.suite_dirs = tuple(str(Path(p).resolve()) for p in suite_dirs)
        self.protected = protected
        self.violations: list[Violation] = []
        self.mutations: list[str] = []
        self.errors: list[str] = []  # the guard's own failures: the grade is not trustworthy
        self.snapshot: Snapshot | None = None
        self._kinds: dict[object, int] = {}
        self._entries: dict[int, list[tuple[str, object, int]]] = {}
        self._built: dict[int, tuple[object, str]] = {}  # id -> (HF module built by the learner, where)
        self._armed = False
        self._tripped = False  # our own hook raised, which unsets it: not the learner's doing
        self._original_import = builtins.__import__
        self._original_import_module = importlib.import_module
        # one object each, so that `is` can tell later whether they are still in place
        self._import_hook = self._guarded_import
        self._import_module_hook = self._guarded_import_module
        self._profile_hook = self._profile
        self._import_codes = (Guard._guarded_import.__code__, Guard._guarded_import_module.__code__)
        import torch

        self._module_init = torch.nn.Module.__init__.__code__
        # how torch runs a module's forward when the module is called: model(idx)
        self._module_calls = {getattr(torch.nn.Module, name).__code__
                              for name in ("_call_impl", "_wrapped_call_impl") if hasattr(torch.nn.Module, name)}
        self._state: dict[str, object] = {}
        self._modules: dict[str, object] = {}
        self._meta_path: list[object] = []

    # where code comes from -----------------------------------------------------------------
    def _kind(self, code) -> int:
        kind = self._kinds.get(code)
        if kind is None:
            filename = code.co_filename
            kind = LEARNER if filename.startswith(self.learner_dir) else \
                HF if filename.startswith(self.hf_dirs) else \
                STRICT if filename.startswith(self.strict_dirs) else \
                SUITE if filename.startswith(self.suite_dirs) else OTHER
            self._kinds[code] = kind
        return kind

    def _nearest(self, frame) -> int:
        """The kind of the nearest frame, from `frame` outwards, that is not torch's or Python's."""
        while frame is not None:
            kind = self._kind(frame.f_code)
            if kind != OTHER:
                return kind
            frame = frame.f_back
        return OTHER

    def _learner_frame(self, frame):
        """The innermost learner frame from `frame` outwards (None when there is none)."""
        while frame is not None:
            if self._kind(frame.f_code) == LEARNER:
                return frame
            frame = frame.f_back
        return None

    def _loader(self, frame) -> bool:
        """Whether a learner frame is one where Hugging Face's loading code may run (LOADERS)."""
        allowed = LOADERS.get(Path(frame.f_code.co_filename).stem)
        return bool(allowed) and frame.f_code.co_name in allowed | {"<module>"}

    def _relative(self, filename: str) -> str:
        path = Path(filename)
        try:
            return path.relative_to(Path(self.learner_dir).parent).as_posix()
        except ValueError:
            return path.name

    def record(self, frame, what: str, why: str, where: str = "exercises/:0") -> Violation:
        """Keep a violation, located at a learner frame (or at `where`, "file:line", without one)."""
        if frame is not None:
            file, line = self._relative(frame.f_code.co_filename), frame.f_lineno
        else:
            file, _, line = where.rpartition(":")
        violation = Violation(file, int(line), what, why)
        if violation not in self.violations:
            self.violations.append(violation)
        return violation

    def _refuse(self, frame, what: str, why: str, where: str = "exercises/:0"):
        self._tripped = True  # raising from a profile hook unsets it
        raise IntegrityError(str(self.record(frame, what, why, where)))

    # rule 1: imports -------------------------------------------------------------------------
    def _import_allowed(self, name: str, frame) -> bool:
        if not _forbidden_module(name) or self._kind(frame.f_code) != LEARNER:
            return True
        return name.partition(".")[0] == "transformers" and Path(frame.f_code.co_filename).stem in LOADERS

    def _guarded_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        frame = sys._getframe(1)
        if level == 0 and not self._import_allowed(name, frame):
            raise IntegrityError(str(self.record(frame, f"imports {name}", _forbidden_module(name))))
        return self._original_import(name, globals, locals, fromlist, level)

    def _guarded_import_module(self, name, package=None):
        frame = sys._getframe(1)
        if not name.startswith(".") and not self._import_allowed(name, frame):
            raise IntegrityError(str(self.record(frame, f"imports {name}", _forbidden_module(name))))
        return self._original_import_module(name, package)

    # rules 2 to 5: the profile hook --------------------------------------------------------
    def _profile(self, frame, event, arg):
        if event[1] == "_":  # c_call, c_return, c_exception: torch's and Python's built-ins
            return
        try:
            if event == "call":
                self._on_call(frame)
            elif event == "return" and self._entries:
                entry = self._entries.pop(id(frame), None)
                for name, tensor, version in entry or ():
                    if tensor._version != version:
                        self.mutations.append(f"{frame.f_code.co_name}() changed its argument `{name}` in place")
        except IntegrityError:
            raise
        except Exception as error:  # noqa: BLE001 — a failing hook would be unset silently
            self.errors.append(f"{type(error).__name__}: {error}")

    def _on_call(self, frame) -> None:
        code = frame.f_code
        kind = self._kind(code)
        if kind == OTHER or kind == SUITE:
            if code is self._module_init:  # every nn.Module is built through it (rule 4)
                self._note_built(frame)
            return
        if kind == LEARNER:
            caller = frame.f_back  # learner code calling itself (the common case) is not an entry
            if caller is not None and self._kind(caller.f_code) == LEARNER:
                return
            if self._nearest(caller) != LEARNER:  # entering the learner's code (rule 5)
                self._entries[id(frame)] = _tensor_versions(frame.f_locals)
            return
        if kind == STRICT:  # rule 2
            if self._nearest(frame.f_back) == LEARNER:
                self._refuse(self._learner_frame(frame.f_back), f"calls {code.co_name}() of "
                             f"{self._relative(code.co_filename)}", "that is the code your exercise is "
                             "compared with: your code must compute the result itself")
            return
        # Hugging Face's code
        method = code.co_argcount > 0 and code.co_varnames[0] in ("self", "cls")
        nested = "." in getattr(code, "co_qualname", "")  # a method, or a decorator's wrapper
        if not method and not nested:  # rule 3
            if self._nearest(frame.f_back) == LEARNER:
                learner = self._learner_frame(frame.f_back)
                if not self._loader(learner):
                    self._refuse(learner, f"calls {code.co_name}() of {self._relative(code.co_filename)}",
                                 "Hugging Face's GPT-2 is what your code is compared with: compute the "
                                 "result with your own code")
            return
        by_learner = self._nearest(frame.f_back) == LEARNER
        if not by_learner and not self._built:
            return  # Hugging Face's code calling itself, or a test calling it
        owner = _first_argument(frame, code)
        built = self._built.get(id(owner)) if self._built else None
        name = f"{type(owner).__name__}.{code.co_name}()"
        if built is not None and code.co_name == "forward":  # rule 4, whoever calls it
            self._refuse(self._learner_frame(frame.f_back), f"runs a Hugging Face {type(owner).__name__} "
                         f"built at {built[1]}", "a Hugging Face module may load weights for you, but "
                         "the forward pass must be your own code", where=built[1])
        if not by_learner:
            return
        learner = self._learner_frame(frame.f_back)
        if self._loader(learner):
            return
        if built is not None:  # rule 4
            self._refuse(learner, f"calls {name} on a Hugging Face module built at {built[1]}",
                         "a Hugging Face module may load weights for you, nothing more", where=built[1])
        if _is_module(owner) and frame.f_back.f_code not in self._module_calls:  # rule 6
            self._refuse(learner, f"calls {name} on a Hugging Face model it was given",
                         "a model handed to your code is there to be called, model(idx): its other "
                         "methods (generate, ...) would do the exercise for you")

    def _note_built(self, frame) -> None:
        """nn.Module.__init__ is running: remember a Hugging Face module built under the learner's code."""
        module = frame.f_locals.get("self")
        if _owner_package(type(module)) not in HF_PACKAGES or id(module) in self._built:
            return
        learner = self._learner_frame(frame.f_back)
        if learner is not None:
            self._built[id(module)] = (module, f"{self._relative(learner.f_code.co_filename)}:{learner.f_lineno}")

    def audit(self) -> None:
        """After the learner's modules are imported: refuse classes that extend Hugging Face's or
        the grader's, and names bound to their functions or objects (`gelu = NewGELUActivation()`)."""
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            if not path.startswith(self.learner_dir):
                continue
            rel = self._relative(path)
            loader = Path(path).stem in LOADERS
            for attr, value in list(vars(module).items()):
                if attr.startswith("__"):
                    continue
                if isinstance(value, type) and value.__module__ == name:
                    for base in value.__mro__[1:]:
                        if _owner_package(base) in HF_PACKAGES + GRADER_PACKAGES:
                            self.record(None, f"class {attr} extends {base.__module__}.{base.__qualname__}",
                                        "build it from torch's nn.Module and your own code", where=f"{rel}:0")
                            break
                    continue
                owner = _owner_package(value)
                if owner in HF_PACKAGES + GRADER_PACKAGES and not (loader and isinstance(value, type)):
                    label = getattr(value, "__qualname__", None) or type(value).__qualname__
                    self.record(None, f"`{attr}` is {label} from {owner}", FORBIDDEN_MODULES[owner],
                                where=f"{rel}:0")

    # life cycle ----------------------------------------------------------------------------
    def install(self) -> None:
        """Wrap the import functions; call once, before the learner's module is imported."""
        builtins.__import__ = self._import_hook
        importlib.import_module = self._import_module_hook

    def uninstall(self) -> None:
        """Put the import functions back (a grading process never needs to; tests of the guard do)."""
        if builtins.__import__ is self._import_hook:
            builtins.__import__ = self._original_import
        if importlib.import_module is self._import_module_hook:
            importlib.import_module = self._original_import_module

    def take_snapshot(self) -> None:
        """Fingerprint what the verdicts rely on, and note the reference builders (rule 2);
        call after the suites are imported, before the learner's module is."""
        import torch
        import torch.nn.functional
        import torch.testing

        snap = Snapshot()
        snap.add("builtins", builtins)
        snap.add("torch", torch)
        for cls in (torch.Tensor, torch._C.TensorBase, torch.nn.Module, torch.nn.Parameter):
            snap.add(f"{cls.__module__}.{cls.__qualname__}", cls, closed=True)
        for module in (torch.nn.functional, torch.nn.init, torch.testing, importlib):
            snap.add(module.__name__, module)
        for name, module in list(sys.modules.items()):
            if module is not None and any(name == p or name.startswith(p + ".") for p in self.protected):
                snap.add(name, module, classes_of=name)
                self._modules[name] = module
        self.snapshot = snap
        self._state = _torch_state()
        self._meta_path = list(sys.meta_path)
        for name in REFERENCE_MODULES:  # their top-level functions build references (rule 2)
            reference = sys.modules.get(name)
            for value in vars(reference).values() if reference else ():
                for function in (value, _wrapped(value)):
                    if isinstance(function, types.FunctionType) and function.__code__.co_filename == reference.__file__:
                        self._kinds[function.__code__] = STRICT

    def tampered(self) -> list[str]:
        """What changed since the snapshot, in words; empty when nothing did."""
        if self.snapshot is None:
            return []
        changes = self.snapshot.changed()
        state = _torch_state()
        changes += [f"{key} ({self._state[key]} -> {value})" for key, value in state.items()
                    if self._state.get(key) != value]
        changes += [f"sys.modules[{name!r}]" for name, module in self._modules.items()
                    if sys.modules.get(name) is not module]
        if sys.meta_path != self._meta_path:
            changes.append("sys.meta_path")
        if builtins.__import__ is not self._import_hook:
            changes.append("builtins.__import__")
        if importlib.import_module is not self._import_module_hook:
            changes.append("importlib.import_module")
        return sorted(set(changes))

    def arm(self) -> None:
        self._tripped = False
        self._entries.clear()
        self.mutations.clear()
        sys.setprofile(self._profile_hook)
        self._armed = True

    def disarm(self) -> list[str]:
        """Stop the hook; return what was tampered with while it was armed."""
        problems = []
        if self._armed and not self._tripped and sys.getprofile() is not self._profile_hook:
            problems.append("the grader's profile hook (sys.setprofile)")
        sys.setprofile(None)
        self._armed = False
        self._entries.clear()
        return problems + self.tampered()


def _tensor_versions(namespace: dict) -> list[tuple[str, object, int]]:
    """(name, tensor, version counter) of the tensors among a call's arguments, one level deep
    into lists, tuples and dicts (a state dict). Parameters are left out: a learner's module may
    update its own parameters."""
    import torch

    found = []
    for name, value in namespace.items():
        if isinstance(value, dict):
            items = [(f"{name}[{k!r}]", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            items = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        else:
            items = [(name, value)]
        for label, item in items:
            if isinstance(item, torch.Tensor) and not isinstance(item, torch.nn.Parameter):
                try:
                    found.append((label, item, item._version))
                except RuntimeError:  # inference-mode tensors have no version counter
                    pass
    return found


def _is_module(value: object) -> bool:
    import torch

    return isinstance(value, torch.nn.Module)


def _first_argument(frame, code) -> object:
    """The object a Hugging Face method runs on: `self`, or the first of a decorator wrapper's *args."""
    if code.co_argcount:
        return frame.f_locals.get(code.co_varnames[0])
    if code.co_flags & _CO_VARARGS:
        args = frame.f_locals.get(code.co_varnames[code.co_kwonlyargcount])
        return args[0] if isinstance(args, tuple) and args else None
    return None


_CO_VARARGS = 0x04  # inspect.CO_VARARGS, without importing inspect
