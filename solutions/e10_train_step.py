"""e10 — one step of GPT-2 training: the next-token loss, AdamW's two parameter groups, the learning
rate schedule (linear warmup, then cosine decay), and a step with gradient clipping."""

import math

import torch
import torch.nn.functional as F
from torch import nn


def lm_loss(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    # logits: (B, T, V) = model(idx); idx: (B, T). The logits at position t score token t + 1.
    V = logits.size(-1)
    predictions = logits[:, :-1, :]  # (B, T - 1, V): the last position has no next token here
    targets = idx[:, 1:]  # (B, T - 1): the token that follows each position
    return F.cross_entropy(predictions.reshape(-1, V), targets.reshape(-1))  # mean over B * (T - 1)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    params = list(model.parameters())  # each Parameter once: the tied wte / lm_head matrix too
    decay = [p for p in params if p.dim() >= 2]  # weight matrices and embeddings
    no_decay = [p for p in params if p.dim() < 2]  # biases, LayerNorm gains and biases
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, max_lr: float, warmup_steps: int, max_steps: int, min_lr: float) -> float:
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps  # linear: max_lr / warmup_steps at step 0
    if step >= max_steps:
        return min_lr  # the end of the schedule, and after it
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 at the end of warmup, -> 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, idx: torch.Tensor,
               max_norm: float, lr: float) -> float:
    for group in optimizer.param_groups:  # every group: decayed and not decayed
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)  # gradients add up across backward() calls otherwise
    loss = lm_loss(model(idx), idx)  # idx: (B, T) -> a scalar
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # after backward, before the step
    optimizer.step()
    return loss.item()
