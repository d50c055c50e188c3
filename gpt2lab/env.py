"""Exercise zero: is this machine ready for the kata? (`nox -s env`)

Reports Python, torch, CUDA and the GPU (name, memory, fp16/bf16), the device the checks will use,
whether the reference works offline (a tiny GPT2LMHeadModel built from a config, no download, and
GPT-2's tokenizer shipped in gpt2lab/data/gpt2, with HF_HUB_OFFLINE=1), and whether OpenAI's
pretrained GPT-2 is in the Hugging Face cache (what `nox -s demo` needs). A missing GPU is not a
problem (the checks run on the CPU), nor are weights not downloaded yet; a missing package or a
broken reference is. The lines come as they are known: the versions at once, torch's after it is
imported.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gpt2lab.i18n import N_, _

TOKENIZER = Path(__file__).resolve().parent / "data" / "gpt2"
HELLO_WORLD = [15496, 995]  # GPT-2's ids for "Hello world"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
INSTALL = N_("python -m pip install -e .   (from the repository root, with the Python that runs nox)")
CPU_TORCH = "python -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
COLAB_GPU = N_("on Colab: Runtime > Change runtime type > T4 GPU, then run `nox -s env` again")
LABEL = 13  # the width of the first column: "  Python        3.12.1"


def _row(label: str, text: str) -> str:
    """One line of the report: a label in the first column, then what it says."""
    return f"  {label:<{LABEL}} {text}"


def _more(text: str) -> str:
    """A line that goes on with the one above, under its text."""
    return " " * (LABEL + 3) + text


@dataclass
class GPU:
    name: str
    memory_gib: float
    free_gib: float | None
    capability: tuple[int, int]
    bf16: str  # "yes", "emulated" or "no"
    fp16: bool
    computes: str | None = None  # None when a small matmul on it matched the CPU, else the error


@dataclass
class Facts:
    python: str
    executable: str
    versions: dict[str, str | None]  # pip name -> version, None when not installed
    torch_cuda_build: str | None = None  # torch.version.cuda: None for a CPU-only build
    cuda_available: bool = False
    gpus: list[GPU] = field(default_factory=list)
    mps: bool = False
    reference: str | None = None  # None when the offline reference check passed, else what failed
    weights: str | None = None  # the Hugging Face cache that holds GPT-2's weights; "" when not there

    @property
    def missing(self) -> list[str]:
        return [name for name, version in self.versions.items() if version is None]

    @property
    def device(self) -> str:
        return "cuda" if self.cuda_available else "cpu"


def requirements() -> list[str]:
    """The pip names of the kata's dependencies: pyproject.toml's list, else the installed metadata."""
    if PYPROJECT.exists():
        block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", PYPROJECT.read_text(), re.S | re.M)
        requires = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M) if block else []
    else:
        requires = importlib.metadata.requires("gpt2lab") or []
    return [re.match(r"[A-Za-z0-9_.\-]+", r).group(0) for r in requires if _applies(r)]


def _applies(requirement: str) -> bool:
    """Whether a requirement's environment marker ("; python_version < '3.11'") holds here."""
    if ";" not in requirement:
        return True
    try:
        from packaging.requirements import Requirement  # comes with pip, setuptools and pytest
    except ImportError:
        return False  # cannot tell: a conditional requirement is not reported as missing
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate({"extra": ""})


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_packages() -> list[str]:
    """The kata's dependencies that are not installed in this Python (what the Colab notebook installs)."""
    return [name for name in requirements() if _version(name) is None]


def _bf16(torch) -> str:
    try:
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch older than 2.3 has no including_emulation
        native = torch.cuda.is_bf16_supported()
    if native:
        return "yes"
    return "emulated" if torch.cuda.is_bf16_supported() else "no"


def _gpu_computes(torch, index: int) -> str | None:
    """A small fp32 matmul on the GPU must match the CPU's (TF32 off, as in the checks)."""
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        a = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
        on_gpu = (a.to(f"cuda:{index}") @ a.to(f"cuda:{index}")).cpu()
        error = (on_gpu - a @ a).abs().max().item()
        return None if error < 1e-4 else _("a 64x64 matmul differs from the CPU by {error}").format(
            error=f"{error:.1e}")
    except RuntimeError as problem:  # driver or kernel image problems surface here
        return f"{type(problem).__name__}: {problem}".splitlines()[0]


def gather() -> Facts:
    facts = packages()
    gather_torch(facts)
    gather_reference(facts)
    return facts


def packages() -> Facts:
    """What is known without importing anything: Python and the installed versions."""
    return Facts(python=platform.python_version(), executable=sys.executable,
                 versions={name: _version(name) for name in requirements()})


def gather_torch(facts: Facts) -> None:
    if facts.versions.get("torch") is None:
        return
    import torch

    facts.torch_cuda_build = torch.version.cuda
    facts.cuda_available = torch.cuda.is_available()
    facts.mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    for index in range(torch.cuda.device_count() if facts.cuda_available else 0):
        props = torch.cuda.get_device_properties(index)
        try:
            free = torch.cuda.mem_get_info(index)[0] / 2**30
        except RuntimeError:
            free = None
        capability = (props.major, props.minor)
        facts.gpus.append(GPU(props.name, props.total_memory / 2**30, free, capability,
                              _bf16(torch), capability >= (5, 3), _gpu_computes(torch, index)))


def gather_reference(facts: Facts) -> None:
    if facts.versions.get("transformers") is None or facts.versions.get("torch") is None:
        return
    facts.reference = reference_problem()
    facts.weights = weights_cache()


def weights_cache(name: str = "gpt2") -> str:
    """The Hugging Face cache directory when it holds GPT-2's pretrained weights, else ""."""
    from gpt2lab import hub

    try:
        return hub.cache_dir() if hub.is_cached(name) else ""
    except Exception:  # noqa: BLE001 — an unreadable cache is a cache without the weights
        return ""


def reference_problem() -> str | None:
    """Build the reference offline; None when it works, else what went wrong."""
    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(dict.fromkeys(saved, "1"))  # read by huggingface_hub when transformers is imported
    try:
        return _reference_problem()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reference_problem() -> str | None:
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

        config = GPT2Config(n_embd=16, n_head=2, n_layer=1, n_positions=8, vocab_size=64,
                            bos_token_id=0, eos_token_id=0)
        model = GPT2LMHeadModel(config).eval()
        with torch.no_grad():
            logits = model(torch.tensor([[1, 2, 3]])).logits
        if tuple(logits.shape) != (1, 3, 64):
            return _("a tiny GPT2LMHeadModel returned logits of shape {shape}, expected (1, 3, 64)").format(
                shape=tuple(logits.shape))
        ids = GPT2TokenizerFast.from_pretrained(str(TOKENIZER))("Hello world")["input_ids"]
    except Exception as problem:  # anything here means the reference is unusable: report it, do not crash
        return f"{type(problem).__name__}: {problem}".splitlines()[0]
    if ids != HELLO_WORLD:
        return _("the shipped tokenizer encodes 'Hello world' as {ids}, expected {expected}").format(
            ids=ids, expected=HELLO_WORLD)
    return None


def report(facts: Facts) -> tuple[list[str], bool]:
    """The lines to print, and whether the kata can run here."""
    lines, ok = [], True
    for part in (_packages_part, _torch_part, _reference_part):
        more, fine = part(facts)
        lines += more
        ok = ok and fine
    return lines + _verdict(ok), ok


def _packages_part(facts: Facts) -> tuple[list[str], bool]:
    lines = [_("GPT-2 kata — your environment"), "", _row("Python", f"{facts.python}  ({facts.executable})")]
    for name, version in facts.versions.items():
        lines.append(_row(name, version or _("MISSING")))
    if facts.missing:
        lines += ["", "  " + _("Missing: {names}. Install them with:").format(names=", ".join(facts.missing)),
                  f"    {_(INSTALL)}"]
        if "torch" in facts.missing:
            lines.append("    " + _("(no GPU here? install the CPU build of torch first: {command})").format(
                command=CPU_TORCH))
    return lines, not facts.missing


def _torch_part(facts: Facts) -> tuple[list[str], bool]:
    if facts.versions.get("torch") is None:
        return [], True
    return ["", *_gpu_lines(facts)], not any(gpu.computes for gpu in facts.gpus)


def _reference_part(facts: Facts) -> tuple[list[str], bool]:
    if facts.versions.get("transformers") is None or facts.versions.get("torch") is None:
        return [], True
    label = _("reference")
    if facts.reference is None:
        lines = ["", _row(label, _("works offline: a tiny GPT2LMHeadModel runs,")),
                 _more(_("and the shipped tokenizer encodes 'Hello world' as {ids}").format(ids=HELLO_WORLD))]
    else:
        lines = ["", _row(label, _("BROKEN (offline, HF_HUB_OFFLINE=1): {problem}").format(problem=facts.reference)),
                 _more(_("reinstall it: {command}").format(command=_(INSTALL)))]
    if facts.weights:
        lines.append("  " + _("GPT-2 weights in the Hugging Face cache ({cache}): `nox -s demo` runs offline")
                     .format(cache=facts.weights))
    else:
        lines += ["  " + _("GPT-2 weights not downloaded yet: `nox -s demo` downloads OpenAI's GPT-2 (124M) "
                           "once, 548 MB,"),
                  _more(_("from the Hugging Face hub (the checks never need them)"))]
    return lines, facts.reference is None


def _verdict(ok: bool) -> list[str]:
    return ["", _("Ready: run `nox -s check` to see where you stand.") if ok
            else _("Not ready: fix what is marked above, then run `nox -s env` again.")]


def _gpu_lines(facts: Facts) -> list[str]:
    lines = []
    if not facts.gpus:
        why = (_("this torch is a CPU-only build") if facts.torch_cuda_build is None
               else _("torch is built for CUDA {version}, but no GPU or driver is visible").format(
                   version=facts.torch_cuda_build))
        lines.append(_row("CUDA", _("not available: {why}").format(why=why)))
        if facts.mps:
            lines.append(_row("Apple GPU", _("available (mps), but the checks compare on the CPU or CUDA only")))
        lines += ["  " + _("checks run on cpu. Every exercise passes on the CPU; a GPU only makes the larger cases "
                           "faster."),
                  "  " + _("To use a GPU {how}.").format(how=_(COLAB_GPU))]
        return lines
    count = len(facts.gpus)
    lines.append(_row("CUDA", (_("available (torch built for CUDA {version}), {n} GPU") if count == 1 else
                               _("available (torch built for CUDA {version}), {n} GPUs")).format(
        version=facts.torch_cuda_build, n=count)))
    answer = {True: _("yes"), False: _("no")}
    bf16 = {"yes": _("yes"), "no": _("no"), "emulated": _("emulated")}
    for index, gpu in enumerate(facts.gpus):
        free = _(", {free} GiB free").format(free=f"{gpu.free_gib:.1f}") if gpu.free_gib is not None else ""
        lines += [_row(f"GPU {index}", _("{name}, {memory} GiB{free}, compute capability {capability}").format(
                      name=gpu.name, memory=f"{gpu.memory_gib:.1f}", free=free,
                      capability=f"{gpu.capability[0]}.{gpu.capability[1]}")),
                  _more(_("fp16: {fp16}, bf16: {bf16} (the checks themselves compare in float32)").format(
                      fp16=answer[gpu.fp16], bf16=bf16.get(gpu.bf16, gpu.bf16)))]
        if gpu.computes:
            lines.append(_more(_("BROKEN: {problem}. Use `--device cpu`, or fix the driver.").format(
                problem=gpu.computes)))
    lines.append("  " + _("checks run on cuda (cuda:0); force the CPU with `nox -s check -- --device cpu`"))
    return lines


def main() -> int:
    """Print each part as soon as it is known: the versions at once, then torch's, then the reference."""
    facts, ok = packages(), True
    for gather_part, part in ((None, _packages_part), (gather_torch, _torch_part),
                              (gather_reference, _reference_part)):
        if gather_part is not None:
            gather_part(facts)
        lines, fine = part(facts)
        ok = ok and fine
        if lines:
            print("\n".join(lines), flush=True)
    print("\n".join(_verdict(ok)))
    return 0 if ok else 1
