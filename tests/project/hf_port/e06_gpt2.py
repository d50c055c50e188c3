from dataclasses import dataclass

import torch
from torch import nn

from .e01_layer_norm import LayerNorm
from .e05_block import Block, clones


@dataclass(frozen=True)
class GPT2Config:  # given by the exercise
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


class GPT2(nn.Module):
    # transformers' GPT2Model and GPT2LMHeadModel in one module (no "transformer." level)
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_dim = config.n_embd

        self.wte = nn.Embedding(config.vocab_size, self.embed_dim)
        self.wpe = nn.Embedding(config.n_positions, self.embed_dim)

        self.drop = nn.Dropout(config.dropout)
        self.h = clones(Block(config.n_embd, config.n_head, config.n_positions, config.dropout,
                              config.layer_norm_epsilon), config.n_layer)
        self.ln_f = LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)

        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # PreTrainedModel.tie_weights

    def forward(self, input_ids):
        input_shape = input_ids.size()
        input_ids = input_ids.view(-1, input_shape[-1])
        if input_shape[-1] > self.config.n_positions:  # transformers raises an IndexError in wpe
            raise ValueError(f"Sequence length {input_shape[-1]} exceeds n_positions {self.config.n_positions}")
        device = input_ids.device

        position_ids = torch.arange(0, input_shape[-1], dtype=torch.long, device=device)
        position_ids = position_ids.unsqueeze(0)

        inputs_embeds = self.wte(input_ids)
        position_embeds = self.wpe(position_ids)
        hidden_states = inputs_embeds + position_embeds
        hidden_states = self.drop(hidden_states)

        output_shape = (-1,) + input_shape[1:] + (hidden_states.size(-1),)
        for block in self.h:
            hidden_states = block(hidden_states)
        hidden_states = self.ln_f(hidden_states)
        hidden_states = hidden_states.view(output_shape)

        lm_logits = self.lm_head(hidden_states)
        return lm_logits

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path="gpt2"):
        from transformers import GPT2LMHeadModel

        try:
            hf = GPT2LMHeadModel.from_pretrained(pretrained_model_name_or_path)
        except OSError as error:
            raise OSError(f"Can't load the model for '{pretrained_model_name_or_path}': not a local directory "
                          "and not in the cache. Download it once with internet, or pass a directory written "
                          "by save_pretrained.") from error
        c = hf.config
        config = GPT2Config(vocab_size=c.vocab_size, n_positions=c.n_positions, n_embd=c.n_embd,
                            n_layer=c.n_layer, n_head=c.n_head, layer_norm_epsilon=c.layer_norm_epsilon)
        model = cls(config)
        load_hf_weights(model, hf.state_dict())
        model.eval()
        return model


# GPT2LMHeadModel._keys_to_ignore_on_load_unexpected, and the prefix of its body
_keys_to_ignore_on_load_unexpected = [r"h\.\d+\.attn\.bias", r"h\.\d+\.attn\.masked_bias"]


def load_hf_weights(model, state_dict):
    import re

    state_dict = {key[len("transformer."):] if key.startswith("transformer.") else key: value
                  for key, value in state_dict.items()}
    state_dict = {key: value for key, value in state_dict.items()
                  if not any(re.search(pattern, key) for pattern in _keys_to_ignore_on_load_unexpected)}
    if "lm_head.weight" not in state_dict and "wte.weight" in state_dict:  # tied: the legacy layout has no head
        state_dict["lm_head.weight"] = state_dict["wte.weight"]
    model.load_state_dict(state_dict, strict=True)  # names every missing, unexpected or misshaped tensor
