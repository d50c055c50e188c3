"""`nox -s demo`: your GPT-2 continues a prompt, with OpenAI's weights.

    nox -s demo -- "Hello, I'm a language model,"         your e06 + e07, greedy, 30 tokens
    nox -s demo -- --checkpoint DIR                        a save_pretrained directory instead of gpt2
    nox -s demo -- --temperature 0.8 --top-k 50 --seed 1   sampled

The weights come from --checkpoint, else from the local Hugging Face cache (no network call), else
from the hub (a download of 548 MB, once; `nox -s env` says whether they are cached). Before loading them, the learner's GPT2 and generate run
once on a tiny random model, so an exercise that is not finished is reported at once. Every failure
is one message saying what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from pathlib import Path

from gpt2lab import hub
from gpt2lab.i18n import _

PROMPT = "Hello, I'm a language model,"
MODULES = ("e06_gpt2", "e07_generate")


class DemoError(Exception):
    """What went wrong, in the learner's terms (printed without a traceback)."""


def add_arguments(p: argparse.ArgumentParser, root: Path) -> None:
    p.add_argument("prompt", nargs="?", default=PROMPT,
                   help=_("the text to continue (default: {prompt})").format(prompt=repr(PROMPT)))
    p.add_argument("--impl", default="exercises",
                   help=_("the package whose GPT-2 writes (default: exercises, yours)"))
    p.add_argument("--root", default=str(root), help=_("directory that contains the package"))
    p.add_argument("--checkpoint", help=_("a directory written by save_pretrained (default: --model)"))
    p.add_argument("--model", default="gpt2", help=_("Hugging Face hub id (default: gpt2, GPT-2 124M)"))
    p.add_argument("-n", "--max-new-tokens", type=int, default=30)
    p.add_argument("--temperature", type=float, default=0.0, help=_("0: greedy (default); e.g. 0.8 to sample"))
    p.add_argument("--top-k", type=int, help=_("sample among the k most likely tokens"))
    p.add_argument("--top-p", type=float, help=_("sample among the most likely tokens holding probability p"))
    p.add_argument("--seed", type=int, default=0, help=_("seed of the sampling generator"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def main(args: argparse.Namespace) -> int:
    try:
        print(args.prompt + write(args), flush=True)
    except DemoError as error:
        print(f"gpt2lab demo: {error}", file=sys.stderr)
        return 1
    return 0


def write(args: argparse.Namespace) -> str:
    import torch

    from gpt2lab.tokenizer import gpt2_tokenizer

    root = Path(args.root).resolve()
    e06, e07 = load(args.impl, root)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise DemoError(_("--device cuda was asked for, but torch sees no GPU here: use --device cpu"))
    device = torch.device(args.device if args.device != "auto" else
                          "cuda" if torch.cuda.is_available() else "cpu")
    learner_dir = root / args.impl
    with learner_code(learner_dir, args.impl):
        smoke_test(e06, e07)
    source, loading = weights(args)
    print("gpt2lab demo: " + _("{impl}/ writes with {source} on {device}").format(
        impl=args.impl, source=source, device=device), file=sys.stderr, flush=True)
    sampling = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
    if args.temperature:
        sampling["generator"] = torch.Generator(device=device).manual_seed(args.seed)
    with learner_code(learner_dir, args.impl):
        try:
            with loading:
                model = e06.GPT2.from_pretrained(source)
        except OSError as error:
            raise DemoError(_("the weights could not be loaded: {error}").format(error=error)) from None
        return e07.generate_text(model.to(device).eval(), gpt2_tokenizer(), args.prompt,
                                 args.max_new_tokens, **sampling)


def load(impl: str, root: Path):
    """The learner's e06 and e07 modules (or the reference's), imported from root/impl."""
    if not (root / impl / f"{MODULES[0]}.py").exists():
        raise DemoError(_("there is no {file} in {root}: run from the repository root, or pass --root").format(
            file=f"{impl}/{MODULES[0]}.py", root=root))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    with learner_code(root / impl, impl):
        return tuple(importlib.import_module(f"{impl}.{name}") for name in MODULES)


def smoke_test(e06, e07) -> None:
    """GPT2 and generate on a tiny random model: an unfinished exercise shows before any download."""
    import torch

    config = e06.GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    model = e06.GPT2(config).eval()
    e07.generate(model, torch.zeros(1, 2, dtype=torch.long), 2, temperature=0.0)


def weights(args: argparse.Namespace):
    """Where the weights come from, and the context to load them in (offline when cached)."""
    if args.checkpoint:
        path = Path(args.checkpoint).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise DemoError(_("--checkpoint {path}: no config.json there; give a directory written by "
                              "GPT2LMHeadModel.save_pretrained").format(path=args.checkpoint))
        return str(path), contextlib.nullcontext()
    if hub.is_cached(args.model):
        return args.model, hub.offline()  # no network call, no waiting on retries
    if not hub.hub_reachable():
        command = f"python -c \"from transformers import GPT2LMHeadModel; GPT2LMHeadModel.from_pretrained('{args.model}')\""
        raise DemoError(_(
            "GPT-2's weights ({model}) are not in the Hugging Face cache, and the hub cannot be reached from here "
            "(or HF_HUB_OFFLINE is set). Either\n"
            "  - on a machine with internet, download them once ({size}):\n"
            "      {command}\n"
            "    then run the demo again (on another machine, copy ~/.cache/huggingface/hub too), or\n"
            "  - pass a checkpoint directory: nox -s demo -- --checkpoint DIR (DIR written by save_pretrained)").format(
            model=repr(args.model), size=_(hub.download_size(args.model)), command=command))
    print("gpt2lab demo: " + _("downloading {model} from the Hugging Face hub (once; {size}) ...").format(
        model=repr(args.model), size=_(hub.download_size(args.model))), file=sys.stderr, flush=True)
    return args.model, contextlib.nullcontext()


@contextlib.contextmanager
def learner_code(learner_dir: Path, impl: str):
    """Turn an exception raised by the learner's code into a DemoError that says what to do."""
    from gpt2lab.pytest_plugin import learner_frame

    try:
        yield
    except (DemoError, OSError):
        raise
    except NotImplementedError as error:
        reference = (" " + _("To see the reference write now: `nox -s demo -- --impl solutions`.")
                     if (learner_dir.parent / "solutions").is_dir() and impl != "solutions" else "")
        raise DemoError(_("your GPT-2 is not finished: {error}.").format(error=error or "NotImplementedError")
                        + "\n  " + _("The demo needs e01 to e07: see where you stand with `nox -s check`.")
                        + reference) from None
    except SyntaxError as error:
        raise DemoError(f"{error.filename}:{error.lineno}: {error.msg} "
                        + _("(your file does not compile)")) from None
    except Exception as error:  # noqa: BLE001 — any failure of the learner's code is reported, not thrown
        where = learner_frame(error.__traceback__, learner_dir)
        lines = [_("{impl}/ raised {error}").format(impl=impl, error=f"{type(error).__name__}: {error}"), where,
                 "  " + _("`nox -s check` says which exercise to fix first")]
        raise DemoError("\n".join(line for line in lines if line)) from None
