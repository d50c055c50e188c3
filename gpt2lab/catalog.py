"""The course: every exercise, in order, with what it builds on.

This is the one place that knows the exercises. The checker, the hints, the grader and the
progress table all read it, so adding a kata means adding one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The repository this copy of gpt2lab belongs to (light to import: `nox -s hint` must not load torch)
ROOT = Path(__file__).resolve().parent.parent

# Seconds one test may run before it is stopped as a loop that never ends (gpt2lab/deadline.py):
# far past the slowest test's normal time, a few seconds on a 2-core CPU. `--time-limit` changes it.
TIME_LIMIT = 30.0


@dataclass(frozen=True)
class Exercise:
    id: str  # "e01": what learners type after `nox -s check --`
    module: str  # file name in exercises/ and solutions/, without .py
    title: str  # one line for the progress table (English)
    title_es: str  # the same line in Spanish
    requires: tuple[str, ...] = ()  # exercises whose code this one calls
    bonus: bool = False

    @property
    def path(self) -> str:
        return f"exercises/{self.module}.py"


EXERCISES: tuple[Exercise, ...] = (
    Exercise("e01", "e01_layer_norm", "LayerNorm over the embedding dimension",
             "LayerNorm sobre la dimensión de embedding"),
    Exercise("e02", "e02_mlp", "GELU (tanh form), Conv1D and the MLP with dropout",
             "GELU (forma tanh), Conv1D y el MLP con dropout"),
    Exercise("e03", "e03_heads", "Split the embedding into heads and merge it back",
             "Dividir el embedding en cabezas y volver a unirlas"),
    Exercise("e04", "e04_attention", "Causal multi-head self-attention",
             "Autoatención multicabezal causal", requires=("e02", "e03")),
    Exercise("e05", "e05_block", "The transformer block: pre-norm, residuals, and clones",
             "El bloque transformer: pre-norm, residuos y clones", requires=("e01", "e02", "e04")),
    Exercise("e06", "e06_gpt2", "The whole GPT-2, with Hugging Face's weights",
             "GPT-2 completo, con los pesos de Hugging Face", requires=("e05",)),
    Exercise("e07", "e07_generate", "Text generation: greedy, temperature, top-k, top-p",
             "Generación de texto: voraz, temperatura, top-k, top-p", requires=("e06",)),
    Exercise("e08", "e08_kv_cache", "A key/value cache for fast generation",
             "Una caché de claves y valores para generar rápido",
             requires=("e06", "e07"), bonus=True),
    Exercise("e09", "e09_bpe", "GPT-2's byte-level BPE tokenizer, from scratch",
             "El tokenizador BPE por bytes de GPT-2, desde cero", bonus=True),
    Exercise("e10", "e10_train_step", "A training step: loss, AdamW, schedule, clipping",
             "Un paso de entrenamiento: pérdida, AdamW, lr, recorte",
             requires=("e06",), bonus=True),
)

BY_ID = {exercise.id: exercise for exercise in EXERCISES}


def requirements(exercise_id: str) -> set[str]:
    """Every exercise that `exercise_id` builds on, directly or not."""
    found, todo = set(), list(BY_ID[exercise_id].requires) if exercise_id in BY_ID else []
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo += BY_ID[current].requires if current in BY_ID else []
    return found


def find(name: str) -> Exercise:
    """Accept "e04", "4", "04" or "e04_attention"; raise KeyError with the valid names."""
    key = name.strip().lower().removesuffix(".py").split("/")[-1]
    if key.isdigit():
        key = f"e{int(key):02d}"
    for exercise in EXERCISES:
        if key in (exercise.id, exercise.module):
            return exercise
    from gpt2lab.i18n import _

    valid = ", ".join(exercise.id for exercise in EXERCISES)
    raise KeyError(_("no exercise called {name}; the exercises are {valid}").format(name=repr(name), valid=valid))
