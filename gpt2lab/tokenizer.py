"""GPT-2's tokenizer, offline: Hugging Face's GPT2TokenizerFast on the vocabulary and merges shipped
in gpt2lab/data/gpt2 (the files of OpenAI's `gpt2` repository), so no download is ever needed.

    from gpt2lab.tokenizer import gpt2_tokenizer
    gpt2_tokenizer().encode("Hello world")  # [15496, 995]
"""

from __future__ import annotations

import functools
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent / "data" / "gpt2"


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer():
    """GPT2TokenizerFast with GPT-2's 50,257 tokens: encode(text) -> ids, decode(ids) -> text."""
    from transformers import GPT2TokenizerFast

    # from_pretrained on the directory: GPT2TokenizerFast(vocab_file=..., merges_file=...) would
    # silently build an empty vocabulary in transformers 5.
    return GPT2TokenizerFast.from_pretrained(str(DIRECTORY))
