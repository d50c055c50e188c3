import torch
import torch.nn.functional as F
from torch import nn


def gelu(x):
    return F.gelu(x, approximate="tanh")


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        flat = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return flat.reshape(*x.shape[:-1], self.nf)


class MLP(nn.Module):
    def __init__(self, n_embd, dropout=0.0):
        super().__init__()
        self.c_proj = Conv1D(n_embd, 4 * n_embd)
        self.c_fc = Conv1D(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(gelu(self.c_fc(x))))
