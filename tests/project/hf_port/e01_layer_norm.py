from torch import nn


class LayerNorm(nn.LayerNorm):
    """GPT2Block's ln_1 / ln_2 and GPT2Model's ln_f are torch's nn.LayerNorm(hidden_size, eps=...)."""

    def __init__(self, n_embd, eps=1e-5):
        super().__init__(n_embd, eps=eps)
