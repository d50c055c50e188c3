import math

import torch


def lm_loss(logits, idx):
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    picked = log_probs.gather(-1, idx[:, 1:].unsqueeze(-1))
    return -picked.mean()


def param_groups(model, weight_decay):
    unique = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        unique.setdefault(id(p), p)
    groups = {True: [], False: []}
    for p in unique.values():
        groups[p.ndim > 1].append(p)
    return [dict(params=groups[False], weight_decay=0.0), dict(params=groups[True], weight_decay=weight_decay)]


def lr_at(step, max_lr, warmup_steps, max_steps, min_lr):
    if step >= warmup_steps:
        t = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return min_lr + (max_lr - min_lr) * (math.cos(math.pi * t) + 1) / 2
    return (step + 1) * max_lr / warmup_steps


def train_step(model, optimizer, idx, max_norm, lr):
    for p in model.parameters():
        p.grad = None
    loss = lm_loss(model(idx), idx)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    for group in optimizer.param_groups:
        group.update(lr=lr)
    optimizer.step()
    return float(loss)
