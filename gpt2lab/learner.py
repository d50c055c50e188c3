"""Reaching the learner's code from a suite: other exercises of the same package, and the
learner's whole model (e06) loaded with a reference's weights. Shared by the suites of e04-e10."""

from __future__ import annotations

from types import ModuleType

from gpt2lab.catalog import BY_ID
from gpt2lab.pytest_plugin import import_exercise
from gpt2lab.verdict import expect_loadable


def sibling(kata: ModuleType, exercise: str) -> ModuleType:
    """Another exercise's module from the same package as the one under test."""
    return import_exercise(kata.__name__.partition(".")[0], BY_ID[exercise])


def describe(shape: tuple[int, int, int, int, int]) -> str:
    """A model shape (vocab, n_positions, n_embd, n_head, n_layer) as the learner would write it."""
    V, n_positions, C, n_head, n_layer = shape
    return f"GPT2Config(vocab_size={V}, n_positions={n_positions}, n_embd={C}, n_head={n_head}, n_layer={n_layer})"


def gpt2_like(kata: ModuleType, ref, case: str):
    """The learner's e06 GPT2 shaped like `ref` (a transformers GPT2LMHeadModel), with its weights."""
    e06, c = sibling(kata, "e06"), ref.config
    model = e06.GPT2(e06.GPT2Config(vocab_size=c.vocab_size, n_positions=c.n_positions, n_embd=c.n_embd,
                                    n_layer=c.n_layer, n_head=c.n_head)).to(ref.device)
    state = {name.removeprefix("transformer."): t for name, t in ref.state_dict().items()}
    state["lm_head.weight"] = state["wte.weight"]
    expect_loadable(model, state, case=case, what="your GPT2 (e06)")
    return model
