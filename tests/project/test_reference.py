"""Check what the reference computes before trusting it (STYLE.md's traps in transformers 5)."""

import math

import torch
from transformers.models.gpt2.modeling_gpt2 import GPT2Block, GPT2Model

from gpt2lab import reference


def test_reference_attention_is_causal():
    attn = reference.CausalAttention(32, 4, 16, seed=1)
    x = torch.randn(2, 9, 32)
    changed = x.clone()
    changed[:, -1] += 5
    before, after = attn(x), attn(changed)
    assert torch.equal(before[:, :-1], after[:, :-1])
    assert not torch.allclose(before[:, -1], after[:, -1])


def test_reference_attention_is_the_one_inside_gpt2model():
    """Feeding x through the hooks equals what GPT2Model's first layer computes on its own input."""
    attn = reference.CausalAttention(32, 4, 16, seed=2)
    model: GPT2Model = attn.model
    embeds = torch.randn(1, 7, 32)
    caught = []
    handles = [model.h[0].ln_1.register_forward_hook(lambda m, a, out: caught.append(out)),
               model.h[0].attn.register_forward_hook(lambda m, a, out: caught.append(out[0]))]
    with torch.no_grad():
        model(inputs_embeds=embeds)
    for h in handles:
        h.remove()
    ln_out, attn_out = caught
    assert torch.allclose(attn(ln_out), attn_out, atol=1e-6)


def test_reference_attention_matches_the_formula():
    attn = reference.CausalAttention(24, 3, 8, seed=3)
    x = torch.randn(2, 5, 24)
    w = attn.attn
    q, k, v = (x @ w.c_attn.weight + w.c_attn.bias).split(24, dim=2)
    q, k, v = (t.view(2, 5, 3, 8).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(torch.ones(5, 5).triu(1).bool(), -math.inf)
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 5, 24) @ w.c_proj.weight + w.c_proj.bias
    assert torch.allclose(attn(x), y, atol=1e-5)


def test_gpt2_layer_norms_are_torch_layer_norms():
    block = GPT2Block(reference.hf_config(16, 2))
    assert type(block.ln_1) is torch.nn.LayerNorm and type(block.ln_2) is torch.nn.LayerNorm


def test_reference_gelu_is_gpt2s_tanh_form():
    x = torch.linspace(-8, 8, 1001)
    tanh_form = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert torch.allclose(reference.gelu(x), tanh_form, atol=1e-6)
    assert (reference.gelu(x) - torch.nn.functional.gelu(x)).abs().max() > 4e-4


def test_randomized_weights_make_mistakes_visible():
    mlp = reference.mlp(16, seed=4)
    assert mlp.c_fc.bias.abs().min() > 0 and mlp.c_proj.bias.abs().sum() > 0
    ln = reference.layer_norm(16, 1e-5, 5)
    assert not torch.equal(ln.weight, torch.ones(16)) and ln.bias.abs().sum() > 0
