"""e09 — GPT-2's byte-level BPE tokenizer: bytes to characters, pre-tokenisation, merges."""

import json
import math
from pathlib import Path

import regex  # the third-party module: Python's `re` knows neither \p{L} nor \p{N}

# GPT-2's pre-tokenisation: contractions, words, numbers and punctuation runs (each may take one
# leading space), then whitespace: `\s+(?!\S)` leaves the last space of a run to the next word.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOT = "<|endoftext|>"  # the one special token: id 50256, never split into pieces


def bytes_to_unicode() -> dict[int, str]:
    """Every byte -> one printable character; printable bytes keep their own."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # ranges inclusive: 188 bytes
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]  # space, control bytes, 0x7F-0xA0, 0xAD
    table.update({b: chr(256 + n) for n, b in enumerate(others)})  # 256, 257, ... in byte order
    return dict(sorted(table.items()))


def pretokenize(text: str) -> list[str]:
    return regex.findall(PATTERN, text)


def bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge the adjacent pair with the lowest rank, everywhere it occurs, until none is left."""
    parts = list(word)
    while len(parts) > 1:
        best = min(zip(parts, parts[1:]), key=lambda pair: ranks.get(pair, math.inf))
        if best not in ranks:
            break  # no adjacent pair was ever merged in training
        merged, i = [], 0
        while i < len(parts):
            if parts[i:i + 2] == list(best):
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


class Tokenizer:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.vocab = vocab  # token string -> id
        self.tokens = {i: token for token, i in vocab.items()}  # id -> token string
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}  # earlier line, lower rank
        self.byte_to_char = bytes_to_unicode()
        self.char_to_byte = {c: b for b, c in self.byte_to_char.items()}
        self.cache: dict[str, list[str]] = {}  # a word's merges never change

    @classmethod
    def from_dir(cls, path: str | Path) -> "Tokenizer":
        path = Path(path)
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        lines = (path / "merges.txt").read_text(encoding="utf-8").splitlines()
        merges = [tuple(line.split()) for line in lines[1:] if line]  # line 0: "#version: 0.2"
        return cls(vocab, merges)

    def encode(self, text: str) -> list[int]:
        ids = []
        for n, chunk in enumerate(text.split(EOT)):
            if n > 0:
                ids.append(self.vocab[EOT])
            for piece in pretokenize(chunk):
                word = "".join(self.byte_to_char[b] for b in piece.encode("utf-8"))
                if word not in self.cache:
                    self.cache[word] = bpe(word, self.ranks)
                ids += [self.vocab[token] for token in self.cache[word]]
        return ids

    def decode(self, ids: list[int]) -> str:
        chars = "".join(self.tokens[i] for i in ids)
        data = bytes(self.char_to_byte[c] for c in chars)
        return data.decode("utf-8", errors="replace")  # a cut multi-byte character becomes U+FFFD
