"""Hugging Face's own GPT-2 modules, ported into the exercises the way transformers writes them
(Conv1D with `view` and `torch.addmm`, `_split_heads` / `_merge_heads` with `permute` and `view`,
the eager `_attn` with its boolean `bias` buffer and `torch.finfo.min`, GPT2Block's `residual`
variables, GPT2Model's `input_ids.view`, the logits warpers, DynamicCache), with the thinnest
adaptation a learner would make to the exercises' names and arguments. The hidden suites of e01
to e08 must pass it: they must not depend on one way of writing the code."""
