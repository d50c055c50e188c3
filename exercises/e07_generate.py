"""e07 — text generation.

GPT-2 writes one token at a time: run the model on the sequence so far, take the logits of the
*last* position, choose a token from them, append it, repeat. Greedy decoding takes the most
likely token; sampling draws one at random from softmax(logits / temperature), usually after
keeping only the k most likely tokens (top-k) or the most likely tokens that together hold
probability p (top-p, "nucleus").

Check with: nox -s check -- e07          Hints: nox -s hint -- e07
Builds on: e06 (GPT2). See it write: nox -s demo -- "Hello, I'm a language model,"

Español: GPT-2 escribe un token cada vez: ejecuta el modelo sobre la secuencia, toma los logits de
la *última* posición, elige un token, lo añade y repite. La decodificación voraz (greedy) toma el
token más probable; el muestreo saca uno al azar de softmax(logits / temperatura), normalmente
tras quedarse con los k tokens más probables (top-k) o con los más probables que juntos suman
probabilidad p (top-p, "nucleus").
"""

import torch


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row; set the others to -inf.

    logits: (B, V) -> a new tensor (B, V); the input is left unchanged. Kept entries keep their
    value exactly, removed ones become float("-inf") (softmax then gives them probability 0).
    As Hugging Face's TopKLogitsWarper: every logit >= the k-th largest of its row is kept, so
    ties with the k-th are all kept; k >= V keeps everything.

    Traps: the k-th largest is `torch.topk(logits, k).values[..., -1]` (index k - 1 of a sorted
    row, not k); compare row by row (keep a (B, 1) threshold); no in-place writes on `logits`.

    Español: deja los k logits mayores de cada fila y pone los demás a -inf. logits (B, V) -> un
    tensor nuevo (B, V); la entrada no cambia. Como TopKLogitsWarper de Hugging Face: se conserva
    todo logit >= el k-ésimo mayor de su fila (los empates con el k-ésimo se quedan todos);
    k >= V lo conserva todo. Trampas: el k-ésimo mayor es `torch.topk(logits, k).values[..., -1]`
    (índice k - 1, no k); umbral por fila, (B, 1); nada de escrituras in-place sobre `logits`.
    """
    raise NotImplementedError("e07: top_k_filter is not written yet")


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities add up to at least p.

    logits: (B, V) -> a new tensor (B, V); the input is left unchanged; removed entries are -inf.
    Row by row, with probs = softmax(logits) sorted from the most to the least likely: a token is
    kept when the tokens ranked *above* it hold less than p in total. So the token that crosses p
    is kept, and the most likely token is always kept, even when p = 0 (Hugging Face's
    TopPLogitsWarper with its default min_tokens_to_keep=1).

    Traps: keeping tokens while the cumulative sum *including* themselves is <= p drops the token
    that crosses p (and can drop every token). Sort descending, remember the order, and put the
    decisions back in vocabulary order (scatter, or index with the sort's indices).

    Español: conserva el menor conjunto de tokens más probables cuyas probabilidades suman al
    menos p. logits (B, V) -> un tensor nuevo (B, V), la entrada no cambia, lo eliminado vale -inf.
    Con probs = softmax(logits) ordenadas de mayor a menor, un token se conserva si los tokens
    por *encima* de él suman menos de p: el token que cruza p se conserva y el más probable se
    conserva siempre, incluso con p = 0 (TopPLogitsWarper de Hugging Face). Trampas: usar la suma
    acumulada *incluyéndose* a sí mismo elimina el token que cruza p; ordena de mayor a menor,
    guarda el orden y devuelve las decisiones al orden del vocabulario (scatter).
    """
    raise NotImplementedError("e07: top_p_filter is not written yet")


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Append max_new_tokens tokens to every row of idx, one at a time.

    model: called as model(ids of shape (B, t)) -> logits (B, t, V), with model.config.n_positions
        its context length (your GPT2 from e06). Run it as it is (the caller chose eval()), and
        without gradients (torch.no_grad()).
    idx: (B, T) token ids.  Returns (B, T + max_new_tokens): idx followed by the new tokens.
    Each step:
        context = the last n_positions tokens (the sequence may grow longer than the context)
        logits = model(context)[:, -1, :]                     (B, V), the last position's
        temperature == 0: the token is argmax(logits) (greedy; top_k, top_p, generator unused)
        otherwise: logits / temperature, then top_k_filter (if top_k), then top_p_filter (if
            top_p), then softmax, then torch.multinomial(probs, 1, generator=generator)

    Traps: the last position's logits, not the first. Temperature divides the logits, before the
    softmax and before top-p (probabilities / T are not a distribution at temperature T). Crop
    the context: GPT-2 has no position embedding past n_positions. Pass `generator` to
    torch.multinomial, so that a seeded generator gives the same tokens every time.

    Español: añade max_new_tokens tokens a cada fila de idx, uno a uno. model(ids (B, t)) ->
    logits (B, t, V) y model.config.n_positions es su contexto; úsalo tal cual y sin gradientes.
    Devuelve (B, T + max_new_tokens): idx seguido de los tokens nuevos. En cada paso: contexto =
    los últimos n_positions tokens; logits = model(contexto)[:, -1, :]; con temperature == 0,
    argmax (voraz); si no, logits / temperature, después top_k_filter, después top_p_filter,
    softmax y torch.multinomial(probs, 1, generator=generator). Trampas: los logits de la última
    posición, no de la primera; la temperatura divide los logits antes del softmax y antes de
    top-p; recorta el contexto; pasa `generator` a torch.multinomial.
    """
    raise NotImplementedError("e07: generate is not written yet")


def generate_text(model, tokenizer, prompt: str, max_new_tokens: int, **sampling) -> str:
    """The continuation of `prompt` that `generate` writes, as text (without the prompt).

    tokenizer: GPT-2's (`from gpt2lab.tokenizer import gpt2_tokenizer; tokenizer =
    gpt2_tokenizer()`): tokenizer.encode(text) -> list of ids, tokenizer.decode(ids) -> text.
    Encode the prompt (not empty) into a (1, T) tensor on the device of the model's parameters,
    call generate(model, idx, max_new_tokens, **sampling) (sampling: temperature, top_k, top_p,
    generator), and decode only the new tokens.

    Español: la continuación de `prompt` que escribe `generate`, como texto (sin el prompt).
    Codifica el prompt (no vacío) en un tensor (1, T) en el dispositivo de los parámetros del
    modelo, llama a generate(model, idx, max_new_tokens, **sampling) y decodifica solo los tokens
    nuevos.
    """
    raise NotImplementedError("e07: generate_text is not written yet")
