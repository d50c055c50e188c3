"""`nox -s train`: train your GPT-2 on Shakespeare (or any text file) and watch the loss fall.

Everything that learns is yours: the model is your GPT2 (e06), each step is your train_step with
your lm_loss, param_groups and lr_at (e10), and the sample at the end is written by your generate
(e07). Without a file it reads the corpus shipped with the kata, gpt2lab/data/tinyshakespeare.txt
(1.1 MB of Shakespeare's plays, public domain, as collected for Karpathy's char-rnn). By default a
tiny GPT-2 (4 layers, 128 wide) reads it character by character, as nanoGPT's shakespeare_char
does, so a few minutes on a CPU take the loss from about ln(vocabulary) to text that looks like
the file; `--tokenizer gpt2` uses GPT-2's BPE instead, and `--pretrained DIR` fine-tunes a GPT-2
checkpoint. The sample and a picture of the loss curve are saved in .gpt2lab/train/.

    nox -s train
    nox -s train -- notes.txt --minutes 1
    nox -s train -- --steps 200 --n-layer 2 --n-embd 64
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gpt2lab.i18n import N_, _

MODULES = {"model": "e06_gpt2", "generate": "e07_generate", "train": "e10_train_step"}
CORPUS = Path(__file__).resolve().parent / "data" / "tinyshakespeare.txt"
OUT = Path(".gpt2lab") / "train"  # under --root: the sample and the loss curve


def add_arguments(p: argparse.ArgumentParser, root: Path) -> None:
    p.add_argument("file", nargs="?", default=str(CORPUS),
                   help=_("a UTF-8 text file to learn from (default: Shakespeare, shipped with the kata)"))
    p.add_argument("--impl", default="exercises",
                   help=_("the package whose code trains (default: exercises, yours)"))
    p.add_argument("--root", default=str(root), help=_("directory that contains the package"))
    p.add_argument("--out", help=_("where to save the sample and the loss curve (default: ROOT/{folder})").format(
        folder=OUT.as_posix()))
    p.add_argument("--minutes", type=float, default=3.0,
                   help=_("time budget when --steps is not given (default 3)"))
    p.add_argument("--steps", type=int, help=_("exactly this many steps (the schedule ends there)"))
    p.add_argument("--tokenizer", choices=("char", "gpt2"), default="char",
                   help=_("char: one token per character of the file (default); gpt2: GPT-2's BPE"))
    p.add_argument("--pretrained", help=_("fine-tune a GPT-2 checkpoint (a save_pretrained directory, or 'gpt2' "
                                          "when it is in the Hugging Face cache); implies --tokenizer gpt2"))
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=64, help=_("tokens per training sequence (the context)"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3, help=_("peak learning rate (min_lr is a tenth of it)"))
    p.add_argument("--warmup", type=int, default=20, help=_("warmup steps (at most a tenth of --steps)"))
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0, help=_("max_norm of the gradients"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=25, help=_("steps between two lines of progress"))
    p.add_argument("--sample-tokens", type=int, default=300, help=_("length of the sample at the end"))
    p.add_argument("--prompt", default=None, help=_("start of the sample (default: the file's first line)"))


@dataclass
class Report:
    steps: int = 0
    losses: list[float] = field(default_factory=list)  # the training loss of every step
    val_before: float = math.nan  # held-out loss before the first step
    val_after: float = math.nan  # and after the last
    sample: str = ""
    saved: list[Path] = field(default_factory=list)  # the sample and the loss curve


class CharTokenizer:
    """One token per distinct character of the text (nanoGPT's shakespeare_char)."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.vocab_size = len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.index[c] for c in text if c in self.index]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)


def load(impl: str, root: Path):
    """The three modules training needs, from `root/impl`: (e06, e07, e10)."""
    if not (root / impl).is_dir():
        raise SystemExit("gpt2lab train: " + _("there is no {impl}/ folder in {root}; run from the repository "
                                               "root or pass --root").format(impl=impl, root=root))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return tuple(importlib.import_module(f"{impl}.{MODULES[k]}") for k in ("model", "generate", "train"))


def run(args: argparse.Namespace, out=print) -> Report:
    """Train as `args` says; print progress with `out`; return the losses and the sample."""
    import torch

    e06, e07, e10 = load(args.impl, Path(args.root).resolve())
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    torch.manual_seed(args.seed)
    try:
        text = Path(args.file).read_text(encoding="utf-8", errors="replace")
    except OSError as error:  # not there, a folder, no permission
        raise SystemExit("gpt2lab train: " + _("cannot read {file}: {error}. Give a text file, or nothing to "
                                               "train on Shakespeare.").format(file=args.file,
                                                                                error=error.strerror or error)) from None
    tokenizer, vocab_size = make_tokenizer(args, text)
    data = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    split = int(0.9 * len(data))  # the last 10% is held out: the model never trains on it
    if len(data) - split < 3:
        raise SystemExit("gpt2lab train: " + _("{file} is too short ({n} tokens): give it a few hundred "
                                               "characters at least").format(file=args.file, n=len(data)))
    model = make_model(args, e06, vocab_size, block=min(args.block_size, len(data) - split - 1)).to(device)
    block = min(args.block_size, len(data) - split - 1, model.config.n_positions)
    out(_("{file}: {n} tokens ({tokenizer}, vocabulary {vocabulary}); 90% to train on, 10% held out").format(
        file=args.file, n=f"{len(data):,}", tokenizer="gpt2" if args.pretrained else args.tokenizer,
        vocabulary=f"{vocab_size:,}"))
    config = model.config
    out(_("{impl}/: GPT2 with {layers}, {heads}, n_embd {n_embd}, context {block}: {millions}M parameters, on "
          "{device}").format(impl=args.impl, layers=plural(config.n_layer, LAYERS), heads=plural(config.n_head, HEADS),
                             n_embd=config.n_embd, block=block, device=device,
                             millions=f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}"))
    batches = Batches(data[:split], data[split:], block, args.batch_size, args.seed, device)
    torch.set_flush_denormal(True)  # Adam's tiny statistics as denormals would slow a CPU down severalfold
    try:
        report = train_loop(args, model, e10, batches, out)
    finally:
        torch.set_flush_denormal(False)  # torch's default, for whatever runs next in this process
    report.sample = write_sample(args, model, e07, tokenizer, text, block, device, out)
    report.saved = save(args, report, out)
    return report


def save(args: argparse.Namespace, report: Report, out) -> list[Path]:
    """The sample as text and the loss curve as a PNG, side by side in --out."""
    from gpt2lab.plot import loss_curve

    folder = Path(args.out) if args.out else Path(args.root) / OUT
    folder.mkdir(parents=True, exist_ok=True)
    sample = folder / "sample.txt"
    sample.write_text(report.sample, encoding="utf-8")
    curve = loss_curve(report.losses, [(0, report.val_before), (report.steps, report.val_after)],
                       folder / "loss.png")
    out("\n" + _("Saved the sample in {sample} and the loss curve in {curve} (blue: training loss; orange: "
                 "held-out loss, before and after).").format(sample=sample, curve=curve))
    return [sample, curve]


# a count and its noun, one form and the other ("1 layer", "2 layers", "0.5 minutes")
LAYERS = (N_("{n} layer"), N_("{n} layers"))
HEADS = (N_("{n} head"), N_("{n} heads"))
MINUTES = (N_("{n} minute"), N_("{n} minutes"))


def plural(count: float, forms: tuple[str, str]) -> str:
    """"1 minute", "3 minutes", "0.5 minutes", in the learner's language."""
    return _(forms[0] if count == 1 else forms[1]).format(n=f"{count:g}")


def make_tokenizer(args: argparse.Namespace, text: str):
    """(tokenizer, vocabulary size): GPT-2's BPE, or one token per character of the text."""
    if args.pretrained or args.tokenizer == "gpt2":
        from gpt2lab.tokenizer import gpt2_tokenizer

        return gpt2_tokenizer(), 50257
    tokenizer = CharTokenizer(text)
    return tokenizer, tokenizer.vocab_size


def make_model(args: argparse.Namespace, e06, vocab_size: int, block: int):
    """A checkpoint to fine-tune, or a new GPT2 of the requested size, in training mode."""
    if args.pretrained:
        model = e06.GPT2.from_pretrained(args.pretrained)
    else:
        model = e06.GPT2(e06.GPT2Config(vocab_size=vocab_size, n_positions=block, n_embd=args.n_embd,
                                        n_layer=args.n_layer, n_head=args.n_head))
        init_gpt2_(model, args.seed)
    return model.train()


def init_gpt2_(model, seed: int) -> None:
    """GPT-2's initialisation, by parameter name (nanoGPT's _init_weights): matrices and embeddings
    N(0, 0.02), the residual projections (c_proj) N(0, 0.02 / sqrt(2 n_layer)), biases 0, LayerNorm
    gains 1. Torch's defaults (embeddings N(0, 1)) would start the loss far above ln(vocabulary)."""
    import torch

    generator, n_layer = torch.Generator().manual_seed(seed), model.config.n_layer
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                p.copy_(torch.randn(p.shape, generator=generator) * std)
            elif name.split(".")[-2].startswith("ln_") and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()


class Batches:
    """Random windows of the token stream: (batch_size, block) ids, for training or held out."""

    def __init__(self, train, held_out, block: int, batch_size: int, seed: int, device):
        import torch

        self.train, self.held_out, self.block, self.batch_size = train, held_out, block, batch_size
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.evaluation = [self.draw(held_out) for _ in range(4)]  # the same held-out batches every time

    def draw(self, source):
        import torch

        starts = torch.randint(0, len(source) - self.block + 1, (self.batch_size,), generator=self.generator)
        return torch.stack([source[s:s + self.block] for s in starts.tolist()]).to(self.device)


def held_out_loss(model, e10, batches: Batches) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        loss = sum(e10.lm_loss(model(idx), idx).item() for idx in batches.evaluation) / len(batches.evaluation)
    model.train()
    return loss


def train_loop(args: argparse.Namespace, model, e10, batches: Batches, out) -> Report:
    """The learner's train_step with AdamW on their param_groups and their lr_at, until the step or
    time budget is spent; with a time budget, max_steps is estimated from the first 5 steps."""
    import torch

    optimizer = torch.optim.AdamW(e10.param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95),
                                  eps=1e-8)
    report = Report(val_before=held_out_loss(model, e10, batches))
    vocab_size = model.config.vocab_size
    out(_("held-out loss before training: {loss} (a uniform guess gives ln({vocabulary}) = {uniform})").format(
        loss=f"{report.val_before:.3f}", vocabulary=vocab_size, uniform=f"{math.log(vocab_size):.3f}"))
    max_steps, started = args.steps or 10**9, time.perf_counter()
    warmup = args.warmup if args.steps is None else max(1, min(args.warmup, args.steps // 10))
    while report.steps < max_steps:
        lr = e10.lr_at(report.steps, args.lr, warmup, max_steps, args.lr / 10)
        report.losses.append(float(e10.train_step(model, optimizer, batches.draw(batches.train), args.clip, lr)))
        report.steps += 1
        step, elapsed = report.steps, time.perf_counter() - started
        if args.steps is None and step == 5:
            max_steps = max(warmup + 1, int(args.minutes * 60 / (elapsed / step)))
            out(_("about {steps} steps fit in {minutes} ({ms} ms a step)").format(
                steps=max_steps, minutes=plural(args.minutes, MINUTES), ms=f"{1000 * elapsed / step:.0f}"))
        if step % args.log_every == 0 or step == max_steps:
            recent = report.losses[-args.log_every:]
            out(_("step {step}/{steps} | loss {loss} | lr {lr} | {speed} tokens/s").format(
                step=f"{step:5d}", steps=max_steps, loss=f"{sum(recent) / len(recent):.3f}", lr=f"{lr:.2e}",
                speed=f"{step * batches.batch_size * batches.block / elapsed:,.0f}"))
        if args.steps is None and elapsed > args.minutes * 60:
            break
    report.val_after = held_out_loss(model, e10, batches)
    out(_("held-out loss after {steps} steps: {loss} (before: {before})").format(
        steps=report.steps, loss=f"{report.val_after:.3f}", before=f"{report.val_before:.3f}"))
    return report


def write_sample(args: argparse.Namespace, model, e07, tokenizer, text: str, block: int, device, out) -> str:
    """The learner's generate, sampling at temperature 0.8 after a prompt (the file's first line)."""
    import torch

    model.eval()
    prompt = args.prompt if args.prompt is not None else (text.splitlines() or ["\n"])[0][:block]
    idx = torch.tensor([(tokenizer.encode(prompt) or [0])[-block:]], device=device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    ids = e07.generate(model, idx, args.sample_tokens, temperature=0.8, generator=generator)
    sample = tokenizer.decode(ids[0, idx.size(1):].tolist())
    out("\n" + _("A sample, temperature 0.8, after {prompt}:").format(prompt=repr(prompt))
        + f"\n{'-' * 72}\n{prompt}{sample}\n{'-' * 72}")
    return sample


def main(args: argparse.Namespace) -> int:
    try:
        run(args)
    except NotImplementedError as error:
        reference = (Path(args.root) / "solutions").is_dir() and args.impl != "solutions"  # the teacher's copy
        print(f"gpt2lab train: {error}.\n"
              + _("Training runs your GPT2 (e06), your generate (e07) and your lm_loss, param_groups, lr_at and "
                  "train_step (e10): write them first (nox -s check -- e10)")
              + (_(", or watch the reference train: nox -s train -- --impl solutions") if reference else "."),
              file=sys.stderr)
        return 2
    except SystemExit as stop:  # what the learner must change, already said in words
        print(stop, file=sys.stderr)
        return 2
    return 0
