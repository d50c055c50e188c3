"""e06 — the whole GPT-2, and OpenAI's weights in it.

Token ids go in; each becomes a vector (its token embedding plus the embedding of its position);
the vectors go through n_layer blocks and a final LayerNorm; the head turns each vector back into
one score per vocabulary token: the logits of the next token. The head reuses the token embedding
matrix (the weights are "tied"). Then you load Hugging Face's checkpoints into it.

Check with: nox -s check -- e06          Hints: nox -s hint -- e06
Builds on: e05 (Block, clones) and e01 (LayerNorm).

Español: entran ids de tokens; cada uno se convierte en un vector (el embedding del token más el de
su posición); los vectores pasan por n_layer bloques y una LayerNorm final; la cabeza convierte
cada vector en una puntuación por token del vocabulario: los logits del siguiente token. La cabeza
reutiliza la matriz de embeddings de tokens (pesos "atados"). Después cargas en él los checkpoints
de Hugging Face. Usa tus Block y clones (e05) y tu LayerNorm (e01).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .e01_layer_norm import LayerNorm  # noqa: F401  (yours, from e01)
from .e05_block import Block, clones  # noqa: F401  (yours, from e05)


@dataclass(frozen=True)
class GPT2Config:
    """GPT-2's sizes; the defaults are GPT-2 small (124M parameters). Given: nothing to write here.

    Español: los tamaños de GPT-2; por defecto, GPT-2 small (124M parámetros). Ya está escrito.
    """

    vocab_size: int = 50257  # V: 50,000 BPE merges + 256 bytes + <|endoftext|>
    n_positions: int = 1024  # the longest sequence the model reads
    n_embd: int = 768  # C
    n_layer: int = 12
    n_head: int = 12
    dropout: float = 0.0  # every dropout of the model: embeddings, attention, residuals, MLP
    layer_norm_epsilon: float = 1e-5


class GPT2(nn.Module):
    """GPT-2 with a language-modelling head (Hugging Face's GPT2LMHeadModel).

    Submodules (GPT-2's names, so that its checkpoints map onto them one to one):
        wte:     nn.Embedding(V, C)             token embeddings
        wpe:     nn.Embedding(n_positions, C)   position embeddings
        drop:    nn.Dropout(config.dropout)     on the sum of the two embeddings
        h:       clones(Block(...), n_layer)    your blocks (e05), with config.dropout and
                                                 config.layer_norm_epsilon
        ln_f:    your LayerNorm(C)              after the last block, with the same eps
        lm_head: nn.Linear(C, V, bias=False)    whose weight *is* wte.weight (tied: assign the
                                                 parameter, do not copy it)
    Keep the config as self.config (generation in e07 reads config.n_positions).

    forward(idx): token ids (B, T), 1 <= T <= n_positions -> logits (B, T, V):
        x = drop(wte(idx) + wpe(positions 0, 1, ..., T - 1))
        x = every block of h in order;  logits = lm_head(ln_f(x))
    A sequence longer than n_positions raises ValueError, with T and n_positions in the message.

    Traps: positions count from 0 and live on idx's device. Logits for *every* position, not only
    the last (training needs them all). ln_f is not optional. An untied lm_head has 38M parameters
    of its own, and a checkpoint without `lm_head.weight` leaves it random.

    Español: GPT-2 con cabeza de modelado de lenguaje (GPT2LMHeadModel de Hugging Face).
    Submódulos: `wte` nn.Embedding(V, C); `wpe` nn.Embedding(n_positions, C); `drop`
    nn.Dropout(config.dropout) sobre la suma de los embeddings; `h` = clones(Block(...), n_layer)
    con tus bloques, con config.dropout y config.layer_norm_epsilon; `ln_f` tu LayerNorm(C), con el
    mismo eps; `lm_head` nn.Linear(C, V, bias=False) cuyo peso *es*
    wte.weight (atado: asigna el parámetro, no lo copies). Guarda la config en self.config.
    forward(idx): ids (B, T) con 1 <= T <= n_positions -> logits (B, T, V): x = drop(wte(idx) +
    wpe(posiciones 0..T-1)), los bloques en orden, lm_head(ln_f(x)). Si T > n_positions, lanza
    ValueError con T y n_positions en el mensaje. Trampas: las posiciones empiezan en 0 y van en
    el dispositivo de idx; logits para *todas* las posiciones; ln_f no es opcional; una cabeza
    sin atar tiene 38M parámetros propios y un checkpoint sin `lm_head.weight` la deja aleatoria.
    """

    def __init__(self, config: GPT2Config):
        super().__init__()
        raise NotImplementedError("e06: GPT2.__init__ is not written yet")

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("e06: GPT2.forward is not written yet")

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "gpt2") -> GPT2:
        """Your GPT2 with the config and weights of a Hugging Face checkpoint, in eval() mode.

        name_or_path: a hub id ("gpt2") or a local directory written by save_pretrained. Let
        transformers read it: `GPT2LMHeadModel.from_pretrained(name_or_path)` downloads it once,
        then uses the local cache. Build GPT2Config from its config (vocab_size, n_positions,
        n_embd, n_layer, n_head, layer_norm_epsilon; dropout 0.0), then `load_hf_weights`.

        When nothing can be loaded (no such directory, not in the cache, no network), transformers
        raises an OSError that does not say which checkpoint: catch it and raise an OSError whose
        message names `name_or_path` and says how to get it (download it once with internet, or
        pass a directory written by save_pretrained).

        Español: tu GPT2 con la config y los pesos de un checkpoint de Hugging Face, en modo
        eval(). name_or_path: un id del hub ("gpt2") o un directorio escrito por save_pretrained;
        léelo con `GPT2LMHeadModel.from_pretrained(name_or_path)`, construye GPT2Config a partir de
        su config (dropout 0.0) y usa `load_hf_weights`. Si no se puede cargar (ni directorio, ni
        caché, ni red), captura el OSError de transformers y lanza un OSError que nombre
        `name_or_path` y diga cómo conseguirlo.
        """
        raise NotImplementedError("e06: GPT2.from_pretrained is not written yet")


def load_hf_weights(model: GPT2, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a Hugging Face GPT-2 state dict into `model`, in place.

    Two layouts must load:
      - GPT2LMHeadModel's (what `.state_dict()` and save_pretrained give): every name starts with
        "transformer." ("transformer.h.0.attn.c_attn.weight"), plus "lm_head.weight".
      - the original `gpt2` checkpoint's: no prefix ("h.0.attn.c_attn.weight"), no lm_head.weight,
        and in every block two causal-mask buffers, "h.{i}.attn.bias" and "h.{i}.attn.masked_bias".
    Once the prefix is gone the names are your model's own. Skip lm_head.weight (your head *is*
    wte) and the mask buffers (not weights).

    Loud loading: if a tensor your model needs is missing, an extra one is there, or a shape
    differs, copy nothing and raise ValueError naming every such tensor, with the expected shape
    (yours) and the shape found: e.g. "h.0.attn.c_attn.weight: expected (768, 2304), found
    (2304, 768)".

    Trap: `model.state_dict()[name].copy_(tensor)` under torch.no_grad() writes into the
    parameters; assigning a new tensor to the dict changes nothing.

    Español: copia en `model` un state dict de GPT-2 de Hugging Face. Dos formatos: el de
    GPT2LMHeadModel (nombres con el prefijo "transformer." y además "lm_head.weight") y el del
    checkpoint original `gpt2` (sin prefijo, sin lm_head.weight y con los buffers de máscara
    "h.{i}.attn.bias" y "h.{i}.attn.masked_bias"). Sin el prefijo, los nombres son los de tu
    modelo; ignora lm_head.weight (tu cabeza *es* wte) y las máscaras. Si falta un tensor, sobra
    uno o una forma no coincide, no copies nada y lanza ValueError nombrando cada tensor, con la
    forma esperada (la tuya) y la encontrada. Trampa: copia con `.copy_` bajo torch.no_grad().
    """
    raise NotImplementedError("e06: load_hf_weights is not written yet")
