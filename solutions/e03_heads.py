"""e03 — split the embedding into attention heads, and merge the heads back."""

import torch


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    x = x.view(B, T, n_head, C // n_head)  # (B, T, nh, hs): cut each embedding into nh pieces
    return x.transpose(1, 2)  # (B, nh, T, hs): one (T, hs) matrix per head


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, n_head, T, hs = x.shape
    x = x.transpose(1, 2)  # (B, T, nh, hs)
    return x.reshape(B, T, n_head * hs)  # (B, T, C); reshape copies: the transpose made x non-contiguous
