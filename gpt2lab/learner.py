"""Reaching the learner's code from a suite: other exercises of the same package, and the
learner's whole model (e06) loaded with a reference's weights. Shared by the suites of e04-e10."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import torch

from gpt2lab.catalog import BY_ID
from gpt2lab.i18n import _
from gpt2lab.pytest_plugin import import_exercise
from gpt2lab.teacher import proxies, remote
from gpt2lab.teacher.runtime.learner_side import NaNInitialisers
from gpt2lab.verdict import expect_loadable


def sibling(kata: ModuleType, exercise: str) -> ModuleType:
    """Another exercise's module from the same package as the one under test (in the worker when
    grading)."""
    if isinstance(kata, proxies.Proxy):
        return proxies.connection_of(kata).module(f"exercises.{BY_ID[exercise].module}")
    return import_exercise(kata.__name__.partition(".")[0], BY_ID[exercise])


def torch_of(kata: ModuleType) -> ModuleType:
    """torch on the learner's side: to build a module that the learner's code receives."""
    return proxies.connection_of(kata).module("torch") if isinstance(kata, proxies.Proxy) else torch


def learner_side(kata: ModuleType) -> ModuleType:
    """gpt2lab.teacher.runtime.learner_side, next to the learner's code (in the worker when grading)."""
    if isinstance(kata, proxies.Proxy):
        return proxies.connection_of(kata).module("learner_side")
    from gpt2lab.teacher.runtime import learner_side as here

    return here


Built = TypeVar("Built")


def build_for_loading(build: Callable[[], Built]) -> Built:
    """Run the learner's constructor with torch's random initialisers turned into NaN fills.

    For a model whose every weight is overwritten next by a checkpoint: GPT-2 124M's constructor
    spends ~0.4 s drawing 124M random numbers on this 2-core CPU (watch mode answers within 1 s).
    A weight the loading then misses is NaN, the same every run, so the comparison that follows
    fails loudly instead of passing by chance. Other tests build the learner's models normally.
    When grading, the worker does the same for the requests made inside.
    """
    with NaNInitialisers(), remote.nan_initialisers():
        return build()


def constant(kata: ModuleType, key: str, make: Callable[[], Built]) -> Built:
    """make(), for the learner's code: when grading, sent to the worker once and copied there for
    each call (a large argument that every case repeats)."""
    return remote.Constant(key, make) if isinstance(kata, proxies.Proxy) else make()


def upload(kata: ModuleType, folder: Path) -> Path:
    """A folder of files (a checkpoint) where the learner's code can read it: its path there."""
    if not isinstance(kata, proxies.Proxy):
        return Path(folder)
    return proxies.connection_of(kata).upload_folder(Path(folder))


def describe(shape: tuple[int, int, int, int, int]) -> str:
    """A model shape (vocab, n_positions, n_embd, n_head, n_layer) as the learner would write it."""
    V, n_positions, C, n_head, n_layer = shape
    return f"GPT2Config(vocab_size={V}, n_positions={n_positions}, n_embd={C}, n_head={n_head}, n_layer={n_layer})"


def gpt2_like(kata: ModuleType, ref, case: str):
    """The learner's e06 GPT2 shaped like `ref` (a transformers GPT2LMHeadModel), with its weights."""
    e06, c = sibling(kata, "e06"), ref.config
    config = e06.GPT2Config(vocab_size=c.vocab_size, n_positions=c.n_positions, n_embd=c.n_embd,
                            n_layer=c.n_layer, n_head=c.n_head)
    model = build_for_loading(lambda: e06.GPT2(config)).to(ref.device)
    state = {name.removeprefix("transformer."): t for name, t in ref.state_dict().items()}
    state["lm_head.weight"] = state["wte.weight"]
    expect_loadable(model, state, case=case, what=_("your GPT2 (e06)"))
    return model
