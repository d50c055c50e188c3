import torch
import torch.nn.functional as F
from einops import rearrange

from .e07_generate import _choose


class KVCache:
    """Preallocated buffers that double when full (as gpt-fast keeps its cache), one pair per layer."""

    def __init__(self, n_layer):
        self.buffers = [None] * n_layer
        self.used = [0] * n_layer

    @property
    def length(self):
        return self.used[0]

    def update(self, layer, k, v):
        start, stop = self.used[layer], self.used[layer] + k.shape[2]
        if self.buffers[layer] is None or self.buffers[layer].shape[3] < stop:
            grown = k.new_zeros(2, *k.shape[:2], max(8, 2 * stop), k.shape[3])
            if self.buffers[layer] is not None:
                grown[:, :, :, :start] = self.buffers[layer][:, :, :, :start]
            self.buffers[layer] = grown
        self.buffers[layer][0, :, :, start:stop] = k
        self.buffers[layer][1, :, :, start:stop] = v
        self.used[layer] = stop
        return self.buffers[layer][0, :, :, :stop], self.buffers[layer][1, :, :, :stop]


def attention_step(attn, x, cache, layer, n_head):
    q, k, v = (rearrange(t, "b t (h d) -> b h t d", h=n_head) for t in attn.c_attn(x).chunk(3, dim=-1))
    keys, values = cache.update(layer, k, v)
    query_at = torch.arange(keys.shape[2] - x.shape[1], keys.shape[2], device=x.device)
    visible = torch.arange(keys.shape[2], device=x.device)[None, :] <= query_at[:, None]
    y = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)
    return attn.c_proj(rearrange(y, "b h t d -> b t (h d)"))


def forward_cached(model, idx, cache):
    start = cache.length
    x = model.wte(idx) + model.wpe.weight[start:start + idx.shape[1]]
    for i, block in enumerate(model.h):
        x = x + attention_step(block.attn, block.ln_1(x), cache, i, model.config.n_head)
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(model.ln_f(x))


def generate_cached(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    if idx.shape[1] + max_new_tokens > model.config.n_positions:
        raise ValueError(f"no room: {idx.shape[1]} + {max_new_tokens} tokens, the cache holds "
                         f"n_positions = {model.config.n_positions}")
    cache, tokens = KVCache(len(model.h)), [idx]
    with torch.inference_mode():
        while len(tokens) <= max_new_tokens:
            logits = forward_cached(model, tokens[-1], cache)
            tokens.append(_choose(logits[:, -1], temperature, top_k, top_p, generator)[:, None])
    return torch.cat(tokens, dim=1)
