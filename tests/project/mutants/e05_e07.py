"""Classic mistakes of the block, the whole model and generation (katas e05 to e07)."""

from tests.project.mutants import Mutant

ATTN_RESIDUAL = "x = x + self.attn(self.ln_1(x))"
MLP_RESIDUAL = "x = x + self.mlp(self.ln_2(x))"
LN_2 = "self.ln_2 = LayerNorm(n_embd, eps=eps)"
LEAK = "test_future_tokens_do_not_leak"
EMBED = "x = self.drop(self.wte(idx) + self.wpe(positions))"
HEAD = "return self.lm_head(self.ln_f(x))"
KTH = "kth = torch.topk(logits, k, dim=-1).values[..., -1:]"
TOP_K_RETURN = 'return logits.masked_fill(logits < kth, float("-inf"))'
TEMPERATURE = "logits = logits / temperature"
SHARED = "shared parameters in clones"
NO_EPS = "eps not passed to the LayerNorms"
NO_CONFIG_EPS = "layer_norm_epsilon not used"
LAST_ONLY = "logits of the last position only"
BLOCK_EPS = ("block = Block(config.n_embd, config.n_head, config.n_positions, config.dropout,\n"
             "                      config.layer_norm_epsilon)")

MUTANTS = [
    # e05: the block and clones
    Mutant("e05", "clones repeats one module", "e05_block",
           (("return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])",
             "return nn.ModuleList([module] * n)"),), SHARED),
    Mutant("e05", "clones keeps the original", "e05_block",
           (("return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])",
             "return nn.ModuleList([module] + [copy.deepcopy(module) for _ in range(n - 1)])"),), SHARED),
    Mutant("e05", "post-norm", "e05_block",
           ((ATTN_RESIDUAL, "x = self.ln_1(x + self.attn(x))"), (MLP_RESIDUAL, "x = self.ln_2(x + self.mlp(x))")),
           "post-norm instead of pre-norm"),
    Mutant("e05", "no attention residual", "e05_block",
           ((ATTN_RESIDUAL, "x = self.attn(self.ln_1(x))"),), "no residual connection around the attention"),
    Mutant("e05", "no MLP residual", "e05_block",
           ((MLP_RESIDUAL, "x = self.mlp(self.ln_2(x))"),), "no residual connection around the MLP"),
    Mutant("e05", "attention and MLP in parallel", "e05_block",
           ((ATTN_RESIDUAL, "x = x + self.attn(self.ln_1(x)) + self.mlp(self.ln_2(x))"), (MLP_RESIDUAL, "pass")),
           "attention and MLP in parallel"),
    Mutant("e05", "ln_1 before the MLP", "e05_block",
           ((MLP_RESIDUAL, "x = x + self.mlp(self.ln_1(x))"),), "ln_1 used before the MLP too"),
    Mutant("e05", "dropout always on", "e05_block",
           (("self.mlp = MLP(n_embd, dropout=dropout)", "self.mlp = MLP(n_embd, dropout=dropout)\n        self.p = dropout"),
            ("        return x\n", "        return nn.functional.dropout(x, self.p)\n"))),
    Mutant("e05", "dropout on the residual stream", "e05_block",
           ((ATTN_RESIDUAL, "x = self.attn.resid_dropout(x + self.attn(self.ln_1(x)))"),)),
    Mutant("e05", "dropout not given to the attention", "e05_block",
           (("attn_dropout=dropout, resid_dropout=dropout", ""),)),
    Mutant("e05", "dropout not given to the MLP", "e05_block",
           (("self.mlp = MLP(n_embd, dropout=dropout)", "self.mlp = MLP(n_embd)"),)),
    Mutant("e05", "eps not given to the LayerNorms", "e05_block",
           (("self.ln_1 = LayerNorm(n_embd, eps=eps)", "self.ln_1 = LayerNorm(n_embd)"),
            ("self.ln_2 = LayerNorm(n_embd, eps=eps)", "self.ln_2 = LayerNorm(n_embd)")), NO_EPS),
    Mutant("e05", "eps not given to ln_2", "e05_block",
           (("self.ln_2 = LayerNorm(n_embd, eps=eps)", "self.ln_2 = LayerNorm(n_embd)"),), NO_EPS),
    # the block's attention not causal: each position sees every other, or one token ahead. The suite's
    # test_future_tokens_do_not_leak once changed the last token by a constant, which ln_1 erased: both passed it
    Mutant("e05", "block attention without causal mask", "e05_block",
           ((LN_2, "self.attn.mask.fill_(True)\n        " + LN_2),), "no causal mask", caught_by=(LEAK,)),
    Mutant("e05", "block attention sees one token ahead", "e05_block",
           ((LN_2, "self.attn.mask = torch.ones_like(self.attn.mask).tril(1)\n        " + LN_2),),
           "causal mask shifted by one", caught_by=(LEAK,)),
    # e06: the whole model and its weights
    Mutant("e06", "untied head", "e06_gpt2",
           (("self.lm_head.weight = self.wte.weight", "pass"),), "untied head"),
    Mutant("e06", "no position embeddings", "e06_gpt2",
           ((EMBED, "x = self.drop(self.wte(idx))"),), "no position embeddings"),
    Mutant("e06", "no final ln_f", "e06_gpt2", ((HEAD, "return self.lm_head(x)"),), "no final LayerNorm"),
    Mutant("e06", "blocks share one module", "e06_gpt2",
           (("self.h = clones(block, config.n_layer)", "self.h = nn.ModuleList([block] * config.n_layer)"),),
           SHARED),
    Mutant("e06", "embedding dropout always on", "e06_gpt2",
           ((EMBED, "x = nn.functional.dropout(self.wte(idx) + self.wpe(positions), self.config.dropout)"),)),
    Mutant("e06", "dropout after ln_f instead of on the embeddings", "e06_gpt2",
           ((EMBED, "x = self.wte(idx) + self.wpe(positions)"), (HEAD, "return self.lm_head(self.drop(self.ln_f(x)))"))),
    Mutant("e06", "logits of the last position only", "e06_gpt2", ((HEAD, HEAD + "[:, -1, :]"),), LAST_ONLY),
    Mutant("e06", "logits of the last position only, as nanoGPT at inference", "e06_gpt2",
           ((HEAD, "return self.lm_head(self.ln_f(x)[:, [-1], :])"),), LAST_ONLY),
    Mutant("e06", "layer_norm_epsilon not given to the blocks", "e06_gpt2",
           ((BLOCK_EPS, "block = Block(config.n_embd, config.n_head, config.n_positions, config.dropout)"),),
           NO_CONFIG_EPS),
    Mutant("e06", "ln_f with the default eps", "e06_gpt2",
           (("self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)",
             "self.ln_f = LayerNorm(config.n_embd)"),),
           NO_CONFIG_EPS),
    Mutant("e06", "from_pretrained drops layer_norm_epsilon", "e06_gpt2",
           ((",\n                               layer_norm_epsilon=c.layer_norm_epsilon))", "))"),), NO_CONFIG_EPS),
    Mutant("e06", "no context check", "e06_gpt2", (("if T > self.config.n_positions:", "if False:"),)),
    Mutant("e06", "mask buffers not skipped", "e06_gpt2",
           (('if name == "lm_head.weight" or name.endswith(MASK_BUFFERS):', 'if name == "lm_head.weight":'),)),
    Mutant("e06", "shapes not compared", "e06_gpt2",
           (("if missing or unexpected or misshaped:", "if missing or unexpected:"),)),
    Mutant("e06", "from_pretrained passes on transformers' error", "e06_gpt2",
           (("except OSError as error:", "except ImportError as error:"),)),
    Mutant("e06", "from_pretrained in training mode", "e06_gpt2", (("return model.eval()", "return model"),)),
    # e07: filters and generation
    Mutant("e07", "top-k keeps one too many", "e07_generate",
           ((KTH, "kth = torch.topk(logits, min(k + 1, logits.size(-1)), dim=-1).values[..., -1:]"),),
           "one token too many"),
    Mutant("e07", "top-k drops the k-th", "e07_generate",
           ((TOP_K_RETURN, 'return logits.masked_fill(logits <= kth, float("-inf"))'),), "one token too few"),
    Mutant("e07", "top-k drops ties", "e07_generate",
           ((TOP_K_RETURN, 'values, indices = torch.topk(logits, k, dim=-1)\n'
             '    return torch.full_like(logits, float("-inf")).scatter(-1, indices, values)'),),
           "ties with the k-th largest removed"),
    Mutant("e07", "top-k in place", "e07_generate",
           ((TOP_K_RETURN, 'logits[logits < kth] = float("-inf")\n    return logits'),)),
    Mutant("e07", "top-p drops the crossing token", "e07_generate",
           (("drop_sorted = before >= p", "drop_sorted = before + probs > p"),), "the token that crosses p removed"),
    Mutant("e07", "top-p may drop every token", "e07_generate",
           (("drop_sorted[..., 0] = False", "pass"),), "the most likely token removed"),
    Mutant("e07", "temperature not applied", "e07_generate",
           ((TEMPERATURE, "logits = logits"),), "temperature not applied to the logits"),
    Mutant("e07", "temperature after the softmax", "e07_generate",
           ((TEMPERATURE, "logits = logits"),
            ("probs = torch.softmax(logits, dim=-1)", "probs = torch.softmax(logits, dim=-1) / temperature")),
           "temperature not applied to the logits"),
    Mutant("e07", "top-p before top-k", "e07_generate",
           (("    if top_k is not None:\n        logits = top_k_filter(logits, top_k)\n"
             "    if top_p is not None:\n        logits = top_p_filter(logits, top_p)\n",
             "    if top_p is not None:\n        logits = top_p_filter(logits, top_p)\n"
             "    if top_k is not None:\n        logits = top_k_filter(logits, top_k)\n"),),
           "top-p applied before top-k"),
    Mutant("e07", "first position's logits", "e07_generate",
           (("logits = model(context)[:, -1, :]", "logits = model(context)[:, 0, :]"),),
           "the first position's logits used"),
    Mutant("e07", "no context cropping", "e07_generate",
           (("context = idx[:, -n_positions:]", "context = idx"),), "no context cropping"),
    Mutant("e07", "generator ignored", "e07_generate",
           (("torch.multinomial(probs, num_samples=1, generator=generator)", "torch.multinomial(probs, num_samples=1)"),),
           "generator not used"),
    Mutant("e07", "always greedy", "e07_generate", (("if temperature == 0:", "if True:"),), "not sampling"),
    Mutant("e07", "generate_text returns the prompt too", "e07_generate",
           (("return tokenizer.decode(out[0, idx.size(1):].tolist())", "return tokenizer.decode(out[0].tolist())"),)),
    Mutant("e07", "generate_text drops the sampling arguments", "e07_generate",
           (("out = generate(model, idx, max_new_tokens, **sampling)", "out = generate(model, idx, max_new_tokens)"),)),
]
