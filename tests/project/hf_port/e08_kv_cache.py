import torch

from .e03_heads import merge_heads, split_heads
from .e07_generate import next_tokens


class KVCache:
    # transformers' DynamicCache (4.3x): one entry per layer, appended when the layer is first seen
    def __init__(self, n_layer):
        self.key_cache: list[torch.Tensor] = []
        self.value_cache: list[torch.Tensor] = []

    def get_seq_length(self, layer_idx=0):
        if len(self.key_cache) <= layer_idx:
            return 0
        return self.key_cache[layer_idx].shape[-2]

    @property
    def length(self):
        return self.get_seq_length()

    def update(self, layer_idx, key_states, value_states):
        if len(self.key_cache) <= layer_idx:
            self.key_cache.append(key_states)
            self.value_cache.append(value_states)
        else:
            self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key_states], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value_states], dim=-2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]


def attention_step(attn, x, cache, layer, n_head):
    # GPT2Attention.forward with a cache: the `bias` buffer's rows key_length - query_length onwards
    query, key, value = attn.c_attn(x).split(attn.split_size, dim=2)
    query = split_heads(query, n_head)
    key = split_heads(key, n_head)
    value = split_heads(value, n_head)
    key, value = cache.update(layer, key, value)
    attn_output, _ = attn._attn(query, key, value)
    attn_output = merge_heads(attn_output)
    attn_output = attn.c_proj(attn_output)
    return attn.resid_dropout(attn_output)


def forward_cached(model, input_ids, cache):
    # GPT2Model.forward with cache: position ids start at the cache's length
    past_length = cache.get_seq_length()
    position_ids = torch.arange(past_length, input_ids.shape[-1] + past_length, dtype=torch.long,
                                device=input_ids.device).unsqueeze(0)
    hidden_states = model.drop(model.wte(input_ids) + model.wpe(position_ids))
    for i, block in enumerate(model.h):
        residual = hidden_states
        hidden_states = residual + attention_step(block.attn, block.ln_1(hidden_states), cache, i,
                                                  model.config.n_head)
        residual = hidden_states
        hidden_states = residual + block.mlp(block.ln_2(hidden_states))
    return model.lm_head(model.ln_f(hidden_states))


@torch.no_grad()
def generate_cached(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    if idx.shape[-1] + max_new_tokens > model.config.n_positions:
        raise ValueError(f"{idx.shape[-1]} + {max_new_tokens} tokens exceed n_positions "
                         f"{model.config.n_positions}")
    cache = KVCache(model.config.n_layer)
    input_ids, model_inputs = idx, idx
    for _ in range(max_new_tokens):
        next_token_logits = forward_cached(model, model_inputs, cache)[:, -1, :]
        tokens = next_tokens(next_token_logits, temperature, top_k, top_p, generator)
        model_inputs = tokens[:, None]
        input_ids = torch.cat([input_ids, model_inputs], dim=-1)
    return input_ids
