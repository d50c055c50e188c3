"""e10 (bonus) — how GPT-2's weights are trained: one training step, piece by piece.

Training shows the model real text and nudges every weight so that the next token becomes more
likely. Four pieces: the loss (cross-entropy of each position's logits against the token that
follows it); AdamW's parameter groups (weight decay shrinks the weight matrices and embeddings, not
the biases and LayerNorm parameters); the learning-rate schedule (a short linear warmup, then a
cosine decay to a floor); and the step itself, with the gradient norm clipped before the optimizer
moves the weights. Each is compared with Hugging Face's GPT2LMHeadModel trained with torch's
optimizers on the same weights. Then train your own model on Shakespeare, shipped with the kata:
`nox -s train` (or on any text file: `nox -s train -- notes.txt`).

Check with: nox -s check -- e10          Hints: nox -s hint -- e10
Builds on: e06 (your GPT2: model(idx) -> logits (B, T, V)).

Español: entrenar es enseñar texto real al modelo y mover cada peso para que el siguiente token sea
más probable. Cuatro piezas: la pérdida (entropía cruzada de los logits de cada posición frente al
token que la sigue); los grupos de parámetros de AdamW (el weight decay encoge las matrices de
pesos y los embeddings, no los sesgos ni los parámetros de LayerNorm); el calendario de la tasa de
aprendizaje (un warmup lineal corto y luego un descenso en coseno hasta un mínimo); y el paso en sí,
con la norma del gradiente recortada antes de que el optimizador mueva los pesos. Todo se compara
con GPT2LMHeadModel de Hugging Face entrenado con los optimizadores de torch sobre los mismos pesos.
Después entrena tu modelo con Shakespeare, que viene con el kata: `nox -s train` (o con cualquier
texto: `nox -s train -- RUTA.txt`).
"""

import torch
from torch import nn


def lm_loss(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The next-token loss of a batch: the mean cross-entropy of every prediction.

    logits: (B, T, V) = model(idx); idx: (B, T) token ids. The logits at position t score the
    token at position t + 1, so the predictions are logits[:, :-1] (B, T - 1, V) and their targets
    idx[:, 1:] (B, T - 1); the last position has no target in this batch. Returns a scalar tensor
    (shape ()), the mean over the B * (T - 1) predictions, that backward() can start from: what
    Hugging Face's GPT2LMHeadModel(input_ids=idx, labels=idx).loss gives.

    Traps: comparing each position's logits with its own token (no shift) teaches the model to copy;
    torch.nn.functional.cross_entropy wants (N, V) logits and (N,) targets (reshape), and takes the
    logits themselves, not probabilities; torch.roll wraps the first token around (slice instead).

    Español: la pérdida de siguiente token de un lote: la media de la entropía cruzada de cada
    predicción. Los logits de la posición t puntúan el token de la posición t + 1: las predicciones
    son logits[:, :-1] (B, T - 1, V) y sus objetivos idx[:, 1:] (B, T - 1). Devuelve un tensor
    escalar (forma ()), la media sobre las B * (T - 1) predicciones, del que backward() pueda partir:
    lo que da GPT2LMHeadModel(input_ids=idx, labels=idx).loss. Trampas: sin desplazar, el modelo
    aprende a copiar; cross_entropy quiere logits (N, V) y objetivos (N,), y logits, no
    probabilidades; torch.roll da la vuelta al primer token (usa slices).
    """
    raise NotImplementedError("e10: lm_loss is not written yet")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW's two parameter groups, as GPT-2 training sets them up (nanoGPT's rule).

    Returns [{"params": [...], "weight_decay": weight_decay}, {"params": [...], "weight_decay": 0.0}]:
    every parameter with p.dim() >= 2 (the weight matrices of c_attn, c_proj, c_fc, and the
    embeddings wte and wpe) in the first group; every other parameter (biases, LayerNorm gains and
    biases: 1-D) in the second. Each Parameter appears exactly once: the head is tied to wte, so
    lm_head.weight *is* wte.weight, and model.parameters() lists it once. It must work on any
    nn.Module (the checks also use Hugging Face's GPT2LMHeadModel).

    Traps: decaying LayerNorm gains pulls them towards 0, and decaying biases has no reason; a
    list built from state_dict() holds the tied matrix twice.

    Español: los dos grupos de parámetros de AdamW, como los prepara el entrenamiento de GPT-2 (la
    regla de nanoGPT). Devuelve [{"params": [...], "weight_decay": weight_decay}, {"params": [...],
    "weight_decay": 0.0}]: en el primero, todo parámetro con p.dim() >= 2 (las matrices de pesos y
    los embeddings wte y wpe); en el segundo, los demás (sesgos, ganancias y sesgos de LayerNorm:
    1-D). Cada Parameter aparece una sola vez: la cabeza está atada a wte y model.parameters() la
    lista una vez. Trampas: el weight decay sobre LayerNorm empuja sus ganancias a 0; una lista
    hecha con state_dict() contiene dos veces la matriz atada.
    """
    raise NotImplementedError("e10: param_groups is not written yet")


def lr_at(step: int, max_lr: float, warmup_steps: int, max_steps: int, min_lr: float) -> float:
    """The learning rate of step `step` (0, 1, 2, ...): linear warmup, cosine decay, then a floor.

    The formula of llm.c's train_gpt2.py, exactly:
        step < warmup_steps:      max_lr * (step + 1) / warmup_steps
                                  (max_lr / warmup_steps at step 0, max_lr at step warmup_steps - 1)
        warmup_steps <= step <= max_steps:
            progress = (step - warmup_steps) / (max_steps - warmup_steps)      from 0 to 1
            min_lr + 0.5 * (1 + cos(pi * progress)) * (max_lr - min_lr)      from max_lr to min_lr
        step > max_steps:         min_lr
    Returns a Python float. (nanoGPT's train.py warms up with (step + 1) / (warmup_steps + 1), and
    before December 2024 with step / warmup_steps; Hugging Face's
    get_cosine_with_min_lr_schedule_with_warmup draws the same cosine, but its warmup starts from 0
    at step 0, one step behind, and its cosine climbs again after max_steps. This kata keeps
    llm.c's.)

    Traps: a warmup of step / warmup_steps spends step 0 with learning rate 0; the decay starts where
    the warmup ends, not at step 0; it ends at min_lr, not 0, and stays there.

    Español: la tasa de aprendizaje del paso `step`: warmup lineal, descenso en coseno y un mínimo.
    Con la fórmula de train_gpt2.py de llm.c: si step < warmup_steps, max_lr * (step + 1) /
    warmup_steps; entre warmup_steps y max_steps, con progress = (step - warmup_steps) /
    (max_steps - warmup_steps), min_lr + 0.5 * (1 + cos(pi * progress)) * (max_lr - min_lr);
    después de max_steps, min_lr. Devuelve un float. (El train.py de nanoGPT usa (step + 1) /
    (warmup_steps + 1), y antes de diciembre de 2024 step / warmup_steps; la kata usa la de llm.c.)
    Trampas: step / warmup_steps deja el paso 0 con tasa 0; el descenso empieza donde acaba el
    warmup; termina en min_lr, no en 0, y se queda ahí.
    """
    raise NotImplementedError("e10: lr_at is not written yet")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, idx: torch.Tensor,
               max_norm: float, lr: float) -> float:
    """One training step on the batch idx (B, T); returns the loss of that batch as a float.

    In this order:
        set group["lr"] = lr on every group of optimizer.param_groups
        optimizer.zero_grad()
        loss = lm_loss(model(idx), idx); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)    (rescales all gradients
            together so that their global norm is at most max_norm)
        optimizer.step()
        return loss.item()
    The optimizer is any torch optimizer built on your param_groups (the checks use AdamW and SGD
    with momentum); the caller chose model.train() or eval().

    Traps: without zero_grad, gradients add up across steps; clipping after optimizer.step() (or not
    at all) lets one bad batch throw the weights far; setting the learning rate on the first group
    only leaves the other group at the optimizer's initial lr.

    Español: un paso de entrenamiento con el lote idx (B, T); devuelve la pérdida del lote como
    float. En este orden: group["lr"] = lr en cada grupo de optimizer.param_groups;
    optimizer.zero_grad(); loss = lm_loss(model(idx), idx); loss.backward();
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm); optimizer.step(); devolver
    loss.item(). Trampas: sin zero_grad los gradientes se acumulan entre pasos; recortar después de
    optimizer.step() (o no recortar) deja que un mal lote aleje los pesos; fijar la tasa solo en el
    primer grupo deja el otro con la tasa inicial del optimizador.
    """
    raise NotImplementedError("e10: train_step is not written yet")
