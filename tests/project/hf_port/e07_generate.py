import torch


def top_k_filter(logits, k):
    # transformers' TopKLogitsWarper(top_k=k, filter_value=-inf)
    scores = logits
    top_k = min(k, scores.size(-1))  # Safety check
    # Remove all tokens with a probability less than the last token of the top-k
    indices_to_remove = scores < torch.topk(scores, top_k)[0][..., -1, None]
    scores_processed = scores.masked_fill(indices_to_remove, -float("Inf"))
    return scores_processed


def top_p_filter(logits, p, min_tokens_to_keep=1):
    # transformers' TopPLogitsWarper(top_p=p, filter_value=-inf)
    scores = logits
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)

    # Remove tokens with cumulative top_p above the threshold (token with 0 are kept)
    sorted_indices_to_remove = cumulative_probs <= (1 - p)
    # Keep at least min_tokens_to_keep
    sorted_indices_to_remove[..., -min_tokens_to_keep:] = 0

    # scatter sorted tensors to original indexing
    indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
    scores_processed = scores.masked_fill(indices_to_remove, -float("Inf"))
    return scores_processed


def next_tokens(next_token_logits, temperature, top_k, top_p, generator):
    # GenerationMixin._sample: the warpers in their order (temperature, top-k, top-p), then
    # multinomial; greedy decoding takes the argmax
    if temperature == 0:
        return torch.argmax(next_token_logits, dim=-1)
    next_token_scores = next_token_logits / temperature  # TemperatureLogitsWarper
    if top_k is not None:
        next_token_scores = top_k_filter(next_token_scores, top_k)
    if top_p is not None:
        next_token_scores = top_p_filter(next_token_scores, top_p)
    probs = torch.nn.functional.softmax(next_token_scores, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    input_ids = idx
    for _ in range(max_new_tokens):
        model_inputs = input_ids[:, -model.config.n_positions:]  # the exercise crops the context
        next_token_logits = model(model_inputs)[:, -1, :]
        tokens = next_tokens(next_token_logits, temperature, top_k, top_p, generator)
        input_ids = torch.cat([input_ids, tokens[:, None]], dim=-1)
    return input_ids


def generate_text(model, tokenizer, prompt, max_new_tokens, **sampling):
    input_ids = torch.tensor([tokenizer.encode(prompt)], device=next(model.parameters()).device)
    output = generate(model, input_ids, max_new_tokens, **sampling)
    return tokenizer.decode(output[0, input_ids.shape[-1]:].tolist())
