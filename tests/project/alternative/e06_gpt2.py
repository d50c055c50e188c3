import functools
import re
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .e01_layer_norm import LayerNorm
from .e05_block import Block, clones


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


class GPT2(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = clones(Block(config.n_embd, config.n_head, config.n_positions, config.dropout,
                              config.layer_norm_epsilon), config.n_layer)
        self.ln_f = LayerNorm(config.n_embd, config.layer_norm_epsilon)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        self.register_buffer("positions", torch.arange(config.n_positions), persistent=False)

    def forward(self, idx):
        if idx.shape[-1] > self.config.n_positions:
            raise ValueError(f"context of {self.config.n_positions} tokens exceeded: got {idx.shape[-1]}")
        x = self.drop(self.wte.weight[idx] + self.wpe.weight[self.positions[: idx.shape[-1]]])
        x = functools.reduce(lambda h, block: block(h), self.h, x)
        return F.linear(self.ln_f(x), self.lm_head.weight)

    @classmethod
    def from_pretrained(cls, name_or_path="gpt2"):
        from transformers import GPT2LMHeadModel

        try:
            hf = GPT2LMHeadModel.from_pretrained(name_or_path)
        except OSError as error:
            raise OSError(f"no GPT-2 at {name_or_path!r} (offline and not cached?): download it once, "
                          "or give a save_pretrained directory") from error
        wanted = {f.name: getattr(hf.config, f.name) for f in fields(GPT2Config) if f.name != "dropout"}
        model = cls(GPT2Config(**wanted))
        load_hf_weights(model, hf.state_dict())
        model.train(False)
        return model


def load_hf_weights(model, state_dict):
    mapped = {}
    for key, value in state_dict.items():
        if re.fullmatch(r"(transformer\.)?h\.\d+\.attn\.(masked_)?bias|lm_head\.weight", key):
            continue
        mapped[re.sub(r"^transformer\.", "", key)] = value
    target = model.state_dict()
    target.pop("lm_head.weight")
    if mapped.keys() != target.keys():
        raise KeyError(f"checkpoint lacks {sorted(set(target) - set(mapped))}, "
                       f"has extra {sorted(set(mapped) - set(target))}")
    bad = [f"size mismatch for {k}: the model has {target[k].shape}, the checkpoint {v.shape}"
           for k, v in mapped.items() if v.shape != target[k].shape]
    if bad:
        raise RuntimeError("; ".join(bad))
    mapped["lm_head.weight"] = mapped["wte.weight"]
    model.load_state_dict(mapped, strict=True)
