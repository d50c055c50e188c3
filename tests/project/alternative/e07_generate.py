import torch


def top_k_filter(logits, k):
    ranked = logits.sort(dim=-1, descending=True).values
    threshold = ranked[..., min(k, logits.shape[-1]) - 1].unsqueeze(-1)
    return torch.where(logits >= threshold, logits, torch.full_like(logits, float("-inf")))


def top_p_filter(logits, p):
    ascending, order = logits.sort(dim=-1)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= 1 - p
    remove[..., -1] = False
    inverse = order.argsort(dim=-1)
    return logits.masked_fill(remove.gather(-1, inverse), float("-inf"))


def _choose(logits, temperature, top_k, top_p, generator):
    if temperature == 0:
        return logits.max(dim=-1).indices
    scaled = logits.div(temperature)
    if top_k:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    cdf = scaled.softmax(dim=-1).cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=cdf.shape[-1] - 1)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    limit = model.config.n_positions
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            logits = model(idx[:, max(0, idx.shape[1] - limit):])
            token = _choose(logits[:, logits.shape[1] - 1], temperature, top_k, top_p, generator)
            idx = torch.column_stack([idx, token])
    return idx


def generate_text(model, tokenizer, prompt, max_new_tokens, **sampling):
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    out = generate(model, ids, max_new_tokens, **sampling)
    return tokenizer.decode(out[0].tolist()[ids.shape[1]:])
