"""e08 — fast generation with a key/value cache: the prompt goes through the model once, then each
new token goes through it alone, attending to the keys and values the earlier tokens left behind."""

import math

import torch

from .e03_heads import merge_heads, split_heads
from .e07_generate import next_token


class KVCache:
    """The keys and values of every layer, for all the positions the model has seen so far."""

    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer  # per layer: (B, nh, length, hs)
        self.values: list[torch.Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        """How many positions layer 0 holds (read it before a forward pass updates the layers)."""
        return 0 if self.keys[0] is None else self.keys[0].size(2)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # k, v: (B, nh, T, hs) of the T new positions -> every key and value of this layer so far
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)  # (B, nh, length + T, hs): old first
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


def attention_step(attn, x: torch.Tensor, cache: KVCache, layer: int, n_head: int) -> torch.Tensor:
    # x: (B, T, C), the new positions only (after ln_1); the cache holds the positions before them
    B, T, C = x.shape
    q, k, v = attn.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
    q, k, v = (split_heads(t, n_head) for t in (q, k, v))  # 3 x (B, nh, T, hs)
    k, v = cache.update(layer, k, v)  # (B, nh, L, hs): the L = past + T positions seen so far
    L = k.size(2)

    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (B, nh, T, L)
    # new position i sits at L - T + i and sees the keys 0 .. L - T + i: the mask's last T rows
    future = torch.ones(T, L, dtype=torch.bool, device=x.device).triu(L - T + 1)  # (T, L)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)  # (B, nh, T, L)
    return attn.c_proj(merge_heads(weights @ v))  # (B, nh, T, hs) -> (B, T, C)


def forward_cached(model, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
    # idx: (B, T), the new tokens only; they follow the cache.length tokens the cache holds
    B, T = idx.shape
    past = cache.length  # read before layer 0's update makes it past + T
    positions = torch.arange(past, past + T, device=idx.device)  # (T,): where the new tokens sit
    x = model.wte(idx) + model.wpe(positions)  # (B, T, C)
    for layer, block in enumerate(model.h):
        x = x + attention_step(block.attn, block.ln_1(x), cache, layer, model.config.n_head)
        x = x + block.mlp(block.ln_2(x))  # (B, T, C)
    return model.lm_head(model.ln_f(x))  # (B, T, V)


@torch.no_grad()
def generate_cached(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    B, T = idx.shape
    n_positions = model.config.n_positions
    if T + max_new_tokens > n_positions:
        raise ValueError(f"{T} prompt tokens + {max_new_tokens} new tokens do not fit in the cache: "
                         f"it holds n_positions={n_positions} positions (generate_cached does not crop)")
    cache = KVCache(model.config.n_layer)
    new = idx  # the first pass reads the whole prompt (the prefill); later passes one token each
    for _ in range(max_new_tokens):
        logits = forward_cached(model, new, cache)[:, -1, :]  # (B, V): after the last token
        new = next_token(logits, temperature, top_k, top_p, generator)  # (B, 1), as e07 chooses
        idx = torch.cat([idx, new], dim=1)
    return idx  # (B, T + max_new_tokens)
