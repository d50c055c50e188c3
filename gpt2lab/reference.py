"""Hugging Face's GPT-2 as the reference, built with random weights chosen at run time.

The suites never contain expected numbers: they build the reference module here with a seed,
copy its weights into the learner's module and compare outputs. `transformers` is imported
lazily, so an exercise whose reference is plain torch (LayerNorm) starts faster.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from gpt2lab.i18n import _


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, std: float = 1.0, mean: float = 0.0,
          device: torch.device | str = "cpu") -> torch.Tensor:
    """Normal noise drawn on the CPU (same values on every device), then moved to `device`."""
    return (torch.randn(*shape, generator=generator(seed)) * std + mean).to(device)


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Overwrite every parameter with seeded noise that makes classic mistakes visible.

    Hugging Face's own initialisation sets biases to 0 and LayerNorm gains to 1, so a forgotten
    bias or gain would go unnoticed; here biases are non-zero and gains differ from 1, and weights
    have std 1/sqrt(fan_in) so attention scores are of order one (softmax far from uniform).
    """
    g = generator(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            noise = torch.randn(p.shape, generator=g)
            if isinstance(_owner(module, name), nn.LayerNorm):
                value = 1.0 + 0.2 * noise if name.endswith("weight") else 0.2 * noise
            elif p.dim() == 2:  # Conv1D (nx, nf) or an embedding (n, C)
                fan_in = p.shape[0] if not isinstance(_owner(module, name), nn.Embedding) else 1
                value = noise / math.sqrt(fan_in)
            else:  # biases
                value = 0.1 * noise
            p.copy_(value)
    return module


def _owner(root: nn.Module, parameter_name: str) -> nn.Module:
    return root.get_submodule(parameter_name.rpartition(".")[0]) if "." in parameter_name else root


def hf_config(n_embd: int, n_head: int = 1, n_positions: int = 1024, n_layer: int = 1,
              vocab_size: int = 50257, dropout: float = 0.0, eps: float = 1e-5):
    """A transformers GPT2Config with eager attention (the plain softmax(QK^T/sqrt(d))V)."""
    from transformers import GPT2Config

    config = GPT2Config(n_embd=n_embd, n_head=n_head, n_positions=n_positions, n_layer=n_layer,
                        vocab_size=vocab_size, resid_pdrop=dropout, embd_pdrop=dropout,
                        attn_pdrop=dropout, layer_norm_epsilon=eps)
    config._attn_implementation = "eager"
    return config


# Each reference module is built once per process and kept: all the suites together use fewer than
# 30 of each kind (tests/project/test_course.py), and watch mode runs them again on every save,
# where rebuilding GPT-2 124M alone would cost ~1 s.
CACHED = 64


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's activation exactly as transformers computes it (ACT2FN["gelu_new"])."""
    from transformers.activations import ACT2FN

    return ACT2FN["gelu_new"](x)


@functools.lru_cache(maxsize=CACHED)
def layer_norm(n_embd: int, eps: float, seed: int) -> nn.LayerNorm:
    """GPT-2's `ln_1`/`ln_2`/`ln_f` are torch's nn.LayerNorm (checked in tests/project)."""
    return randomize_(nn.LayerNorm(n_embd, eps=eps), seed).eval()


@functools.lru_cache(maxsize=CACHED)
def mlp(n_embd: int, seed: int, dropout: float = 0.0) -> nn.Module:
    """transformers' GPT2MLP with random weights, in eval mode."""
    from transformers.models.gpt2.modeling_gpt2 import GPT2MLP

    return randomize_(GPT2MLP(4 * n_embd, hf_config(n_embd, dropout=dropout)), seed).eval()


class CausalAttention:
    """transformers' GPT2Attention run inside GPT2Model, so that its causal mask is GPT-2's own.

    A standalone GPT2Attention is not causal (transformers 5 builds the mask in GPT2Model).
    We run a one-layer GPT2Model and, with hooks, feed our `x` straight into its first
    attention layer and catch what that layer returns.
    """

    def __init__(self, n_embd: int, n_head: int, n_positions: int, seed: int):
        from transformers import GPT2Model

        self.model = GPT2Model(hf_config(n_embd, n_head, n_positions, vocab_size=1)).eval()
        self.attn = randomize_(self.model.h[0].attn, seed)

    def to(self, device: torch.device) -> CausalAttention:
        self.model.to(device)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return run_inside(self.model, self.attn, x)


@torch.no_grad()
def run_inside(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a GPT2Model with `x` fed straight into `layer`, one of its layers; return its output.

    The model runs as usual (so it builds its causal mask); hooks replace the layer's input with
    `x` and catch what the layer returns.
    """
    caught: list[torch.Tensor] = []

    def feed_x(module, args, kwargs):
        return (x, *args[1:]), kwargs

    def catch(module, args, output):
        caught.append(output[0] if isinstance(output, tuple) else output)  # GPT2Block: a tensor

    hooks = [layer.register_forward_pre_hook(feed_x, with_kwargs=True), layer.register_forward_hook(catch)]
    try:
        model(inputs_embeds=torch.zeros_like(x))
    finally:
        for hook in hooks:
            hook.remove()
    return caught[0]


@functools.lru_cache(maxsize=CACHED)
def causal_attention(n_embd: int, n_head: int, n_positions: int, seed: int) -> CausalAttention:
    return CausalAttention(n_embd, n_head, n_positions, seed)


class CausalBlock:
    """transformers' GPT2Block (ln_1, attention, ln_2, MLP and the two residual additions), run
    inside a one-layer GPT2Model like CausalAttention, so that its attention is causal."""

    def __init__(self, n_embd: int, n_head: int, n_positions: int, eps: float, seed: int):
        from transformers import GPT2Model

        self.model = GPT2Model(hf_config(n_embd, n_head, n_positions, vocab_size=1, eps=eps)).eval()
        self.block = randomize_(self.model.h[0], seed)

    def to(self, device: torch.device) -> CausalBlock:
        self.model.to(device)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return run_inside(self.model, self.block, x)


@functools.lru_cache(maxsize=CACHED)
def causal_block(n_embd: int, n_head: int, n_positions: int, eps: float, seed: int) -> CausalBlock:
    return CausalBlock(n_embd, n_head, n_positions, eps, seed)


def causal_attention_of(attn: nn.Module, x: torch.Tensor, n_head: int, *, ahead: int = 0) -> torch.Tensor:
    """softmax(q k^T / sqrt(hs), causal) v with the weights of a GPT2Attention, written out, so that
    suites can build classic mistakes of a block around it. (B, T, C) -> (B, T, C). `ahead` > 0 is a
    mistake: position t also sees the `ahead` positions after it (T or more: no causal mask at all)."""
    B, T, C = x.shape
    q, k, v = (x @ attn.c_attn.weight + attn.c_attn.bias).split(C, dim=2)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1 + ahead)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(C // n_head)).masked_fill(future, float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
    return y @ attn.c_proj.weight + attn.c_proj.bias


@functools.lru_cache(maxsize=CACHED)  # one GPT-2 124M, ~30 small ones
def lm_model(n_embd: int, n_head: int, n_positions: int, n_layer: int, vocab_size: int,
             seed: int, eps: float = 1e-5) -> nn.Module:
    """transformers' GPT2LMHeadModel (head tied to wte) with random weights, in eval mode; `eps` is
    its config's layer_norm_epsilon.

    The token embeddings get std 1/sqrt(n_embd) instead of randomize_'s 1, so that logits are of
    order one as in a trained GPT-2 and float32 rounding stays far below the suites' 1e-4.
    """
    from transformers import GPT2LMHeadModel

    config = hf_config(n_embd, n_head, n_positions, n_layer, vocab_size, eps=eps)
    if vocab_size <= config.eos_token_id:  # small test vocabularies: keep GPT-2's special ids inside
        config.bos_token_id = config.eos_token_id = vocab_size - 1
    with _no_init_weights():  # randomize_ overwrites every parameter: skip transformers' own init
        model = GPT2LMHeadModel(config)
    model.tie_weights()
    model = randomize_(model, seed).eval()
    assert model.lm_head.weight is model.transformer.wte.weight, "GPT2LMHeadModel's head is not tied"
    with torch.no_grad():
        model.transformer.wte.weight.mul_(n_embd**-0.5)
    return model


class ContextTooLong(ValueError):
    """Raised by Logits when it is given more tokens than its context holds."""


class Logits(nn.Module):
    """A Hugging Face GPT2LMHeadModel seen as the kata's GPT2: model(idx) -> logits (B, T, V), and
    model.config.n_positions. Lets the generation suite test sampling on GPT-2's own model."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model
        self.config = hf_model.config

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.size(1) > self.config.n_positions:
            raise ContextTooLong(_("the model was given {tokens} tokens, but its context holds "
                                   "n_positions={n_positions}").format(tokens=idx.size(1),
                                                                       n_positions=self.config.n_positions))
        return self.hf(idx).logits


def _no_init_weights():
    """transformers' context manager that skips weight initialisation (it moved in version 5)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()
