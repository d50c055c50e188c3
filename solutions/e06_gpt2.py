"""e06 — the whole GPT-2: embeddings, a stack of blocks, a final LayerNorm, and a head tied to the
token embeddings; plus loading OpenAI's weights from a Hugging Face checkpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .e01_layer_norm import LayerNorm
from .e05_block import Block, clones


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50257  # 50,000 BPE merges + 256 bytes + <|endoftext|>
    n_positions: int = 1024  # the longest sequence the model reads
    n_embd: int = 768  # C
    n_layer: int = 12
    n_head: int = 12
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


class GPT2(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token -> vector, (V, C)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)  # position -> vector, (n_positions, C)
        self.drop = nn.Dropout(config.dropout)
        block = Block(config.n_embd, config.n_head, config.n_positions, config.dropout,
                      config.layer_norm_epsilon)
        self.h = clones(block, config.n_layer)
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: the same (V, C) matrix reads and writes tokens

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if T > self.config.n_positions:
            raise ValueError(f"the input has {T} tokens, but this GPT-2 reads at most "
                             f"n_positions={self.config.n_positions}: keep the last "
                             f"{self.config.n_positions} tokens")
        positions = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(positions))  # (B, T, C) + (T, C) -> (B, T, C)
        for block in self.h:
            x = block(x)  # (B, T, C)
        return self.lm_head(self.ln_f(x))  # (B, T, V): a score for every next token, at every position

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "gpt2") -> GPT2:
        """GPT-2 from a Hugging Face hub id ("gpt2") or a directory written by save_pretrained."""
        from transformers import GPT2LMHeadModel

        try:
            hf = GPT2LMHeadModel.from_pretrained(name_or_path)
        except OSError as error:
            raise OSError(
                f"cannot load the GPT-2 checkpoint {str(name_or_path)!r}: it is not a local directory, "
                "it is not in the Hugging Face cache, and the hub cannot be reached. Download it once "
                "on a machine with internet (GPT2LMHeadModel.from_pretrained(name) fills the cache), or "
                "pass a directory written by save_pretrained.") from error
        c = hf.config
        model = cls(GPT2Config(vocab_size=c.vocab_size, n_positions=c.n_positions, n_embd=c.n_embd,
                               n_layer=c.n_layer, n_head=c.n_head,
                               layer_norm_epsilon=c.layer_norm_epsilon))
        load_hf_weights(model, hf.state_dict())
        return model.eval()


# Saved by old checkpoints (the original `gpt2` repository): causal masks, not weights.
MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")


def load_hf_weights(model: GPT2, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a Hugging Face GPT-2 state dict into `model`; every tensor must match by name and shape."""
    theirs = {}
    for name, tensor in state_dict.items():
        name = name.removeprefix("transformer.")  # GPT2LMHeadModel keeps the body under transformer.
        if name == "lm_head.weight" or name.endswith(MASK_BUFFERS):
            continue  # the head is wte itself (tied); masks are not learnt
        theirs[name] = tensor
    ours = {name: t for name, t in model.state_dict().items() if name != "lm_head.weight"}
    missing = sorted(ours.keys() - theirs.keys())
    unexpected = sorted(theirs.keys() - ours.keys())
    misshaped = [f"{name}: expected {tuple(ours[name].shape)}, found {tuple(theirs[name].shape)}"
                 for name in ours.keys() & theirs.keys() if ours[name].shape != theirs[name].shape]
    if missing or unexpected or misshaped:
        problems = ([f"missing: {', '.join(missing)}"] if missing else []) + (
            [f"unexpected: {', '.join(unexpected)}"] if unexpected else []) + [
            f"wrong shape, {line}" for line in sorted(misshaped)]
        raise ValueError("the checkpoint does not fit this GPT-2:\n  " + "\n  ".join(problems))
    with torch.no_grad():
        for name, tensor in theirs.items():
            ours[name].copy_(tensor)  # state_dict() shares storage with the parameters
