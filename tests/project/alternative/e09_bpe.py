"""An independent e09: a heap of candidate merges over a linked list of symbols, ids decoded through
a table of bytes per id. Written differently from solutions/e09_bpe.py on purpose."""

import heapq
import json
import os
import unicodedata

import regex

_SPLIT = regex.compile(
    r"'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
_SPECIAL = "<|endoftext|>"


def bytes_to_unicode():
    keep = {b for b in range(256) if unicodedata.category(chr(b))[0] not in "CZ"}  # not control/space
    extra = iter(range(256, 512))
    return {b: chr(b) if b in keep else chr(next(extra)) for b in range(256)}


def pretokenize(text):
    return [m.group() for m in _SPLIT.finditer(text)]


def bpe(word, ranks):
    if len(word) < 2:
        return list(word)
    symbols = list(word)
    prev = list(range(-1, len(word) - 1))
    nxt = list(range(1, len(word) + 1))
    nxt[-1] = -1
    heap = []

    def push(i):
        j = nxt[i]
        if i >= 0 and j >= 0:
            rank = ranks.get((symbols[i], symbols[j]))
            if rank is not None:
                heapq.heappush(heap, (rank, i, symbols[i], symbols[j]))

    for i in range(len(word) - 1):
        push(i)
    while heap:
        rank, i, left, right = heapq.heappop(heap)
        j = nxt[i]
        if symbols[i] != left or j < 0 or symbols[j] != right:
            continue  # stale: one side was merged since this entry was pushed
        symbols[i], symbols[j] = left + right, None
        nxt[i] = nxt[j]
        if nxt[j] >= 0:
            prev[nxt[j]] = i
        push(prev[i])
        push(i)
    return [s for s in symbols if s is not None]


class Tokenizer:
    def __init__(self, vocab, merges):
        self.ids = dict(vocab)
        chars = bytes_to_unicode()
        to_byte = {c: b for b, c in chars.items()}
        self.byte_chars = [chars[b] for b in range(256)]
        self.bytes_of = {i: bytes(to_byte[c] for c in t) for t, i in vocab.items() if t != _SPECIAL}
        self.bytes_of[vocab[_SPECIAL]] = _SPECIAL.encode()
        self.ranks = dict(zip(merges, range(len(merges))))
        self.memo = {}

    @classmethod
    def from_dir(cls, path):
        with open(os.path.join(path, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        merges = []
        with open(os.path.join(path, "merges.txt"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("#version") or not line.strip():
                    continue
                left, right = line.rstrip("\n").split(" ")
                merges.append((left, right))
        return cls(vocab, merges)

    def _word_ids(self, piece):
        if piece not in self.memo:
            word = "".join(self.byte_chars[b] for b in piece.encode("utf-8"))
            self.memo[piece] = [self.ids[t] for t in bpe(word, self.ranks)]
        return self.memo[piece]

    def encode(self, text):
        out = []
        for part in regex.split(f"({regex.escape(_SPECIAL)})", text):
            if part == _SPECIAL:
                out.append(self.ids[_SPECIAL])
            else:
                for piece in pretokenize(part):
                    out.extend(self._word_ids(piece))
        return out

    def decode(self, ids):
        return b"".join(self.bytes_of[i] for i in ids).decode("utf-8", "replace")
