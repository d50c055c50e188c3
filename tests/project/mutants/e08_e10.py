"""Classic mistakes of the bonus katas e08 (key/value cache) and e10 (a training step)."""

from tests.project.mutants import Mutant

CACHE, TRAIN = "e08_kv_cache", "e10_train_step"
POSITIONS = "positions = torch.arange(past, past + T, device=idx.device)"
CAT_K = "k = torch.cat([self.keys[layer], k], dim=2)"
CAT_V = "v = torch.cat([self.values[layer], v], dim=2)"
STORE = "self.keys[layer], self.values[layer] = k, v"
MASK = "future = torch.ones(T, L, dtype=torch.bool, device=x.device).triu(L - T + 1)"
SOFTMAX = 'weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)'
STEP = "logits = forward_cached(model, new, cache)[:, -1, :]"
PREDICTIONS, TARGETS = "predictions = logits[:, :-1, :]", "targets = idx[:, 1:]"
DECAY = "decay = [p for p in params if p.dim() >= 2]"
NO_DECAY = "no_decay = [p for p in params if p.dim() < 2]"
EMBEDDING = 'n.split(".")[-2] in ("wte", "wpe")'
WARMUP = "return max_lr * (step + 1) / warmup_steps"
COSINE = "return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)"
FLOOR = "    if step >= max_steps:\n        return min_lr  # the end of the schedule, and after it\n"
SET_LR = '    for group in optimizer.param_groups:  # every group: decayed and not decayed\n        group["lr"] = lr\n'
ZERO = "    optimizer.zero_grad(set_to_none=True)  # gradients add up across backward() calls otherwise\n"
CLIP = "    nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # after backward, before the step\n"
OPT_STEP = "    optimizer.step()\n"

MUTANTS = [
    # e08: the cache
    Mutant("e08", "keys appended twice", CACHE,
           ((CAT_K, "k = torch.cat([self.keys[layer], k, k], dim=2)"),
            (CAT_V, "v = torch.cat([self.values[layer], v, v], dim=2)")), "keys and values appended twice"),
    Mutant("e08", "cache not updated", CACHE,
           ((STORE, "if self.keys[layer] is None:\n            " + STORE),),
           "the cache does not keep what update appends"),
    Mutant("e08", "new keys first", CACHE,
           ((CAT_K, "k = torch.cat([k, self.keys[layer]], dim=2)"),
            (CAT_V, "v = torch.cat([v, self.values[layer]], dim=2)")), "new keys put before the old ones"),
    Mutant("e08", "length counts layers", CACHE,
           (("return 0 if self.keys[0] is None else self.keys[0].size(2)",
             "return sum(k is not None for k in self.keys)"),)),
    # e08: cached attention
    Mutant("e08", "mask rows from the top", CACHE,
           ((MASK, "future = torch.ones(T, L, dtype=torch.bool, device=x.device).triu(1)"),),
           "causal mask not shifted by the cache length"),
    Mutant("e08", "no causal mask", CACHE,
           ((SOFTMAX, "weights = torch.softmax(scores, dim=-1)"),), "no causal mask"),
    Mutant("e08", "cache ignored in attention", CACHE,
           (("k, v = cache.update(layer, k, v)", "cache.update(layer, k, v)"),), "the cache is not used"),
    # e08: positions and passes
    Mutant("e08", "positions restart at 0", CACHE,
           ((POSITIONS, "positions = torch.arange(T, device=idx.device)"),),
           "positions restart at 0 for each new token"),
    Mutant("e08", "new token position off by one", CACHE,
           ((POSITIONS, "positions = torch.arange(past, past + T, device=idx.device) + (past > 0)"),),
           "position off by one"),
    Mutant("e08", "positions shifted by one", CACHE,
           ((POSITIONS, "positions = torch.arange(past + 1, past + T + 1, device=idx.device)"),)),
    Mutant("e08", "no prefill", CACHE,
           (("new = idx  #", "new = idx[:, -1:]  #"),), "prompt not prefilled"),
    Mutant("e08", "whole sequence recomputed each step", CACHE,
           ((STEP, "logits = forward_cached(model, idx, KVCache(model.config.n_layer))[:, -1, :]"),),
           "the whole sequence recomputed for each token"),
    Mutant("e08", "generator not passed", CACHE,
           (("next_token(logits, temperature, top_k, top_p, generator)",
             "next_token(logits, temperature, top_k, top_p, None)"),)),
    Mutant("e08", "no context check", CACHE,
           (("if T + max_new_tokens > n_positions:", "if False:"),)),
    # e10: the loss
    Mutant("e10", "loss not shifted", TRAIN,
           ((PREDICTIONS, "predictions = logits"), (TARGETS, "targets = idx")), "loss not shifted"),
    Mutant("e10", "loss shifted the wrong way", TRAIN,
           ((PREDICTIONS, "predictions = logits[:, 1:, :]"), (TARGETS, "targets = idx[:, :-1]")),
           "loss shifted the wrong way"),
    Mutant("e10", "loss summed", TRAIN,
           (("targets.reshape(-1))", 'targets.reshape(-1), reduction="sum")'),), "loss summed instead of averaged"),
    Mutant("e10", "softmax before cross_entropy", TRAIN,
           (("predictions.reshape(-1, V)", "predictions.reshape(-1, V).softmax(-1)"),), "softmax before cross_entropy"),
    Mutant("e10", "loss detached", TRAIN,
           (("targets.reshape(-1))", "targets.reshape(-1)).detach()"),)),
    # e10: the parameter groups
    Mutant("e10", "weight decay on everything", TRAIN,
           ((DECAY, "decay = params"), (NO_DECAY, "no_decay = []")), "weight decay on biases and LayerNorm"),
    Mutant("e10", "decay chosen by name", TRAIN,  # LayerNorm gains are called weight too
           ((DECAY, 'decay = [p for name, p in model.named_parameters() if name.endswith("weight")]'),
            (NO_DECAY, 'no_decay = [p for name, p in model.named_parameters() if not name.endswith("weight")]')),
           "weight decay on biases and LayerNorm"),
    Mutant("e10", "embeddings not decayed", TRAIN,
           ((DECAY, f"decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not {EMBEDDING}]"),
            (NO_DECAY, f"no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or {EMBEDDING}]")),
           "embeddings not decayed"),
    Mutant("e10", "tied weight counted twice", TRAIN,
           (("params = list(model.parameters())", "params = list(model.state_dict(keep_vars=True).values())"),),
           "tied weight counted twice"),
    # e10: the schedule
    Mutant("e10", "warmup from zero", TRAIN,
           ((WARMUP, "return max_lr * step / warmup_steps"),), "warmup starts at 0"),
    Mutant("e10", "nanoGPT's warmup", TRAIN,
           ((WARMUP, "return max_lr * (step + 1) / (warmup_steps + 1)"),), "nanoGPT's warmup instead of llm.c's"),
    Mutant("e10", "no warmup", TRAIN,
           (("if step < warmup_steps:", "if step < 0:"),
            ("progress = (step - warmup_steps) / (max_steps - warmup_steps)", "progress = step / max_steps")),
           "learning rate not warmed up"),
    Mutant("e10", "decay to zero", TRAIN,
           ((COSINE, "return 0.5 * (1.0 + math.cos(math.pi * progress)) * max_lr"),
            ("return min_lr  #", "return 0.0  #")), "decays to 0 instead of min_lr"),
    Mutant("e10", "cosine after max_steps", TRAIN,
           ((FLOOR, ""),), "cosine goes on after max_steps"),
    Mutant("e10", "linear decay", TRAIN,
           ((COSINE, "return min_lr + (1.0 - progress) * (max_lr - min_lr)"),), "linear decay instead of cosine"),
    # e10: the step
    Mutant("e10", "no zero_grad", TRAIN, ((ZERO, ""),), "zero_grad missing"),
    Mutant("e10", "clip after the step", TRAIN,
           ((CLIP + OPT_STEP, OPT_STEP + CLIP),), "gradients not clipped before the step"),
    Mutant("e10", "no clipping", TRAIN, ((CLIP, ""),), "gradients not clipped before the step"),
    Mutant("e10", "lr on the first group only", TRAIN,
           (("for group in optimizer.param_groups:", "for group in optimizer.param_groups[:1]:"),),
           "learning rate set on the first group only"),
    Mutant("e10", "lr set after the step", TRAIN,
           ((SET_LR, ""), (OPT_STEP, OPT_STEP + SET_LR)), "learning rate set after the step"),
]
