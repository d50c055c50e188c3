"""e07 — text generation: pick the next token from the logits (greedy, or sampled with temperature,
top-k and top-p), append it, repeat."""

import torch


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    # logits: (B, V). Keep every logit at least as large as the k-th largest, ties included.
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))  # (B, V), a new tensor


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    # logits: (B, V). Keep the most likely tokens until their probabilities add up to p.
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V), (B, V)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # (B, V): mass of the tokens ranked above each one
    drop_sorted = before >= p  # the token that crosses p is kept: its predecessors hold < p
    drop_sorted[..., 0] = False  # the most likely token is always kept
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))  # (B, V), a new tensor


def next_token(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
               generator: torch.Generator | None) -> torch.Tensor:
    # logits: (B, V) -> the chosen token of each row, (B, 1)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # greedy
    logits = logits / temperature  # on the logits, before the softmax and before the filters
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # (B, V); filtered tokens get probability 0
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    n_positions = model.config.n_positions
    for _ in range(max_new_tokens):
        context = idx[:, -n_positions:]  # (B, <= n_positions): the model reads at most that many
        logits = model(context)[:, -1, :]  # (B, V): what comes after the last token
        idx = torch.cat([idx, next_token(logits, temperature, top_k, top_p, generator)], dim=1)
    return idx  # (B, T + max_new_tokens)


def generate_text(model, tokenizer, prompt: str, max_new_tokens: int, **sampling) -> str:
    device = next(model.parameters()).device
    idx = torch.tensor([tokenizer.encode(prompt)], device=device)  # (1, T)
    out = generate(model, idx, max_new_tokens, **sampling)  # (1, T + max_new_tokens)
    return tokenizer.decode(out[0, idx.size(1):].tolist())  # the continuation only
