import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, n_embd, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.full((n_embd,), 1.0))
        self.bias = nn.Parameter(torch.full((n_embd,), 0.0))
        self.eps = eps

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return torch.addcmul(self.bias, centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps),
                             self.weight)
