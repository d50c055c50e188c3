"""Hidden suite for e09: byte-level BPE against Hugging Face's GPT2TokenizerFast on the same files.

Each part is checked on its own (the byte table, the pre-tokenisation, the merge loop, encode,
decode), then the learner's encode and decode together. On a difference the message shows the
text, the first position where the pieces or tokens part ways and the pieces around it, and,
when the result is what a classic mistake gives on the same text (computed here by the wrong
variants below), its name and a hint.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import regex

from gpt2lab.i18n import N_, _
from gpt2lab.learner import constant, upload
from gpt2lab.tokenizer import DIRECTORY as DATA
from gpt2lab.tokenizer import gpt2_tokenizer as hf
from gpt2lab.verdict import fail

pytestmark = pytest.mark.kata("e09")

EOT = "<|endoftext|>"

TEXTS = [
    pytest.param("Hello world! The quick brown fox jumps over the lazy dog.", id="english"),
    pytest.param("I'm sure you'll see they've said it's what we'd do, don't you? SHE'S HERE; I'LL GO.",
                 id="contractions"),
    pytest.param("café naïve Ångström résumé, São Paulo, Zürich — cafe\u0301 (decomposed)", id="accents"),
    pytest.param("I ❤️ 🦀! 👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🇪🇸 flag 😀😀", id="emoji"),
    pytest.param("日本語のテキスト、中文字符，한국어 텍스트", id="cjk"),
    pytest.param("def f(x):\n\tif x  >= 10:\n\t\treturn x ** 2  # square\n\n\n    return snake_case[0]\n",
                 id="code"),
    pytest.param("  leading spaces, a tab\tand   runs  \n\n\n   \t  mixed\r\n \u00a0nbsp\u3000wide   ",
                 id="whitespace-runs"),
    pytest.param("In 2024, 3.14159 × 10⁶ = 3141590; ½ + ¼ = ¾, x² and Ⅻ, call 555-0123", id="digits"),
    pytest.param(f"first document{EOT}second one {EOT} third{EOT}", id="special-token"),
]
RANDOM = [pytest.param(k, id=f"random-{k}") for k in range(4)]


# --- the reference: Hugging Face's tokenizer on the repository's vocabulary (gpt2lab.tokenizer) --

@functools.lru_cache(maxsize=1)
def hf_byte_table() -> dict[int, str]:
    """transformers' bytes_to_unicode, checked against what the tokenizer itself does to bytes."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    table, sample = bytes_to_unicode(), "a \n\té€😀\x00\x7f"
    pieces = hf().backend_tokenizer.pre_tokenizer.pre_tokenize_str(sample)
    assert "".join(p for p, _ in pieces) == "".join(table[b] for b in sample.encode("utf-8"))
    return table


@functools.lru_cache(maxsize=1)
def hf_char_to_byte() -> dict[str, int]:
    return {c: b for b, c in hf_byte_table().items()}


@functools.lru_cache(maxsize=1)
def hf_ranks() -> dict[tuple[str, str], int]:
    merges = json.loads(hf().backend_tokenizer.to_str())["model"]["merges"]
    return {tuple(pair): rank for rank, pair in enumerate(merges)}


@functools.lru_cache(maxsize=1)
def hf_vocab() -> dict[str, int]:
    """token -> id (get_vocab() builds a new dict of 50,257 entries on every call: 20 ms)."""
    return hf().get_vocab()


@functools.lru_cache(maxsize=1)
def hf_tokens() -> dict[int, str]:
    return {i: token for token, i in hf_vocab().items()}


def hf_pieces(text: str) -> list[str]:
    return [text[a:b] for _, (a, b) in hf().backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def hf_bpe(word: str) -> list[str]:
    return [token.value for token in hf().backend_tokenizer.model.tokenize(word)]


def hf_decode(ids: list[int]) -> str:
    return hf().decode(ids, clean_up_tokenization_spaces=False)


# --- the texts -----------------------------------------------------------------------------------

# Blocks whose letters, numbers and spaces Python's `regex` and the Rust tokenizers classify alike
# (code points added in recent Unicode versions are not: their tables differ there).
POOL = [(0x21, 0x7E), (0xA1, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x5D0, 0x5EA), (0x600, 0x6FF),
        (0x900, 0x97F), (0x2010, 0x205E), (0x2150, 0x218B), (0x2190, 0x22FF), (0x3001, 0x30FF),
        (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF)]
WORDS = ["the", "token", "Hello", "naïve", "über", "GPT", "año", "tokenization", "x", "Москва", "東京"]
SPACES = [" ", "  ", "\n", "\t", "\n\n", "   ", "\r\n", "\u00a0", "\u3000"]
EXTRAS = ["'s", "'ll", "'T", "'re", "'ve", "'m", "'d", "42", "3.5", "1999", "!", "...", "👩‍💻", "🇫🇷", EOT]


def random_text(seed: int) -> str:
    rng = random.Random(seed)
    parts = []
    for _part in range(rng.randint(6, 14)):
        kind = rng.random()
        if kind < 0.35:
            parts.append(rng.choice(WORDS))
        elif kind < 0.6:
            parts.append(rng.choice(SPACES))
        elif kind < 0.75:
            parts.append(rng.choice(EXTRAS))
        else:
            parts.append("".join(chr(rng.randint(*rng.choice(POOL))) for _ in range(rng.randint(1, 5))))
    return "".join(parts)


def case_text(text: str, limit: int = 70) -> str:
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + _("… ({count} characters)").format(count=len(text))


# --- classic mistakes, written out so that their outputs can be recognised -----------------------

@dataclass(frozen=True)
class Variant:
    """A classic wrong implementation; `compute` runs it on the failing case only."""

    name: str
    hint: str
    compute: Callable[[], object]


PRINTABLE = ((ord("!"), ord("~")), (ord("¡"), ord("¬")), (ord("®"), ord("ÿ")))


def byte_table(bounds=PRINTABLE, others: str = "count") -> dict[int, str]:
    table = {b: chr(b) for lo, hi in bounds for b in range(lo, hi + 1)}
    rest = [b for b in range(256) if b not in table]
    new = {"count": lambda n, b: chr(256 + n), "byte": lambda n, b: chr(256 + b), "self": lambda n, b: chr(b)}
    table.update({b: new[others](n, b) for n, b in enumerate(rest)})
    return table


def off_by_one_tables() -> list[dict[int, str]]:
    tables = []
    for i in range(len(PRINTABLE)):
        for end in (0, 1):
            for step in (-1, 1):
                bounds = [list(b) for b in PRINTABLE]
                bounds[i][end] += step
                tables.append(byte_table(tuple(map(tuple, bounds))))
    return tables


CONTRACTIONS = r"'s|'t|'re|'ve|'m|'ll|'d"


def pattern(contractions: str = CONTRACTIONS, space: str = " ?", whitespace: str = r"\s+(?!\S)|\s+") -> str:
    body = rf"{space}\p{{L}}+|{space}\p{{N}}+|{space}[^\s\p{{L}}\p{{N}}]+|{whitespace}"
    return f"{contractions}|{body}" if contractions else body


RE_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+"""  # for `re`

WRONG_SPLITS = {  # name: (the wrong split, hint); names and hints are translated where they are shown
    N_("contractions not split off"): (
        lambda text: regex.findall(pattern(contractions=""), text),
        N_("start the pattern with the contractions 's 't 're 've 'm 'll 'd, so that \"don't\" gives "
           "\"don\" and \"'t\"")),
    N_("contractions matched in any case"): (
        lambda text: regex.findall(pattern(contractions=f"(?i:{CONTRACTIONS})"), text),
        N_("GPT-2 matches the contractions in lower case only: \"DON'T\" gives \"DON\", \"'\", \"T\" "
           "(the case-insensitive form belongs to later tokenizers)")),
    N_("whitespace runs kept whole"): (
        lambda text: regex.findall(pattern(whitespace=r"\s+"), text),
        N_("try \\s+(?!\\S) before the plain \\s+: a whitespace run followed by text stops one "
           "character early, so that a last space joins the word (\"  x\" -> \" \", \" x\"; \"\\n\\tif\" -> "
           "\"\\n\", \"\\t\", \"if\")")),
    N_("space not attached to the next word"): (
        lambda text: regex.findall(pattern(space=""), text),
        N_("letters, numbers and other symbols each take one optional leading space: \" ?\\p{L}+\"")),
    N_("\\w and \\d of Python's re instead of \\p{L} and \\p{N}"): (
        lambda text: re.findall(RE_PATTERN, text),
        N_("\\w also counts digits and '_', \\d misses numbers such as ² or ½: use the `regex` module "
           "and \\p{L} (letters), \\p{N} (numbers)")),
}


def merge(parts: list[str], pair: tuple[str, str]) -> list[str]:
    out, i = [], 0
    while i < len(parts):
        if tuple(parts[i:i + 2]) == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def bpe_by(choose: Callable[[list[tuple[str, str]], dict], tuple[str, str]]):
    """The merge loop with another rule for which pair to merge next."""

    @functools.lru_cache(maxsize=None)
    def run(word: str) -> tuple[str, ...]:
        ranks, parts = hf_ranks(), list(word)
        while True:
            pairs = [p for p in zip(parts, parts[1:]) if p in ranks]
            if not pairs:
                return tuple(parts)
            parts = merge(parts, choose(pairs, ranks))

    return run


WRONG_MERGES = {  # name: (the wrong merge loop, hint), translated where they are shown
    N_("merges applied by position in the word"): (
        bpe_by(lambda pairs, ranks: pairs[0]),
        N_("merge the pair with the lowest rank (the earliest line of merges.txt), wherever it is in the word")),
    N_("merges applied by frequency"): (
        bpe_by(lambda pairs, ranks: max(pairs, key=pairs.count)),
        N_("how often a pair occurs mattered in training only; encoding merges the pair with the lowest rank")),
    N_("merges applied from the highest rank"): (
        bpe_by(lambda pairs, ranks: max(pairs, key=ranks.get)),
        N_("rank 0 (the first line of merges.txt) is merged first: take the minimum rank")),
}
RIGHT_MERGE = bpe_by(lambda pairs, ranks: min(pairs, key=ranks.get))
RIGHT_SPLIT = functools.partial(regex.findall, pattern())


def encode_with(text: str, *, split=RIGHT_SPLIT, bpe=RIGHT_MERGE, special: bool = True) -> list[int]:
    vocab, table = hf_vocab(), hf_byte_table()
    ids = []
    for n, chunk in enumerate(text.split(EOT) if special else [text]):
        if n:
            ids.append(vocab[EOT])
        for piece in split(chunk):
            ids += [vocab.get(t, -1) for t in bpe("".join(table[b] for b in piece.encode("utf-8")))]
    return ids


def encode_variants(text: str) -> list[Variant]:
    return [
        *(Variant(_(name), _(hint), functools.partial(encode_with, text, split=split))
          for name, (split, hint) in WRONG_SPLITS.items()),
        *(Variant(_(name), _(hint), functools.partial(encode_with, text, bpe=bpe))
          for name, (bpe, hint) in WRONG_MERGES.items()),
        Variant(_("{eot} encoded as text").format(eot=EOT), _("{eot} is one special token (id 50256): split the "
                "text around it and encode the parts in between").format(eot=EOT),
                functools.partial(encode_with, text, special=False)),
    ]


def decode_variants(ids: list[int]) -> list[Variant]:
    tokens = [hf_tokens()[i] for i in ids]
    as_bytes = lambda token: bytes(hf_char_to_byte()[c] for c in token)  # noqa: E731
    return [
        Variant(_("token strings not mapped back to bytes"), _("each character of a token stands for one "
                "byte: map it back with the inverse of bytes_to_unicode(), then decode the bytes as UTF-8"),
                lambda: "".join(tokens)),
        Variant(_("bytes read as Latin-1"), _("decode the bytes as UTF-8: accents and emoji take 2 to 4 bytes"),
                lambda: b"".join(map(as_bytes, tokens)).decode("latin-1")),
        Variant(_("each token decoded on its own"), _("join the bytes of all the tokens first and decode "
                "once: a character may be split across tokens"),
                lambda: "".join(as_bytes(t).decode("utf-8", errors="replace") for t in tokens)),
    ]


# --- comparing and explaining -------------------------------------------------------------------

def show_token(i: object) -> str:
    if not isinstance(i, int) or i not in hf_tokens():
        return _("<{i!r}: not an id of the vocabulary>").format(i=i)
    data = bytes(hf_char_to_byte()[c] for c in hf_tokens()[i])
    try:
        return repr(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _("{data!r} (part of a character)").format(data=data)


UNITS = {"piece": (N_("pieces"), N_("piece {at}")), "symbol": (N_("symbols"), N_("symbol {at}")),
         "token": (N_("tokens"), N_("token {at}"))}  # unit: (its plural, "{unit} {at}")


def expect_same(got: list, expected: list, *, case: str, what: str, unit: str,
                show: Callable[[object], str] = repr, variants: Callable[[], list[Variant]] = list) -> None:
    """Fail unless got == expected; say where they part, show the neighbourhood, name a mistake."""
    if got == expected:
        return
    at = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
    lo = max(0, at - 2)
    units, one = UNITS[unit]
    lines = [_("yours has {count} {units}, GPT-2's has {expected}; they differ from {where} on").format(
                 count=len(got), units=_(units), expected=len(expected), where=_(one).format(at=at)),
             _("GPT-2's {units} {lo}..: ").format(units=_(units), lo=lo) + " | ".join(map(show, expected[lo:at + 3]))
             + (" …" if at + 3 < len(expected) else ""),
             _("yours         {lo}..: ").format(lo=lo) + " | ".join(map(show, got[lo:at + 3]))
             + (" …" if at + 3 < len(got) else "")]
    diagnose(got, expected, case=case, what=what, lines=lines, variants=variants)


def diagnose(got, expected, *, case: str, what: str, lines: list[str], variants: Callable[[], list[Variant]]):
    matches = [v for v in variants() if (output := v.compute()) != expected and output == got]
    if matches:  # several wrong rules can agree on one case: name them all, diagnose the first
        fail(case, _("{what} differs from GPT-2's").format(what=what), *lines,
             _("this looks like a classic mistake: {name}").format(name=_(", or ").join(v.name for v in matches)),
             *(_("hint: {hint}").format(hint=v.hint) for v in matches), diagnosis=matches[0].name)
    fail(case, _("{what} differs from GPT-2's").format(what=what), *lines)


def as_list(got: object, *, case: str, what: str, item: type) -> list:
    if not isinstance(got, (list, tuple)):
        fail(case, _("{what} returned {kind}, expected a list of {item}").format(
            what=what, kind=type(got).__name__, item=item.__name__),
             _("did you forget a `return`?") if got is None else "")
    wrong = sorted({type(x).__name__ for x in got if not isinstance(x, item)})
    if wrong:
        fail(case, _("{what} returned a list holding {kinds}, expected only {item}").format(
            what=what, kinds=", ".join(wrong), item=item.__name__),
             _("encode returns ids (int), not token strings") if item is int and "str" in wrong else "")
    return list(got)


@functools.lru_cache(maxsize=4)
def learner_tokenizer(module):
    return module.Tokenizer.from_dir(upload(module, DATA))


def encode(kata, text: str, case: str) -> list[int]:
    try:
        got = learner_tokenizer(kata).encode(text)
    except KeyError as error:
        key = error.args[0] if error.args else None
        if isinstance(key, str) and not set(key) <= set(hf_byte_table().values()):
            fail(case, _("encode raised KeyError: {key!r} is not a token of vocab.json").format(key=key),
                 _("vocab.json and merges.txt spell bytes with bytes_to_unicode() characters (a space "
                   "is 'Ġ', a newline 'Ċ'): write each piece's UTF-8 bytes that way before bpe()"),
                 diagnosis=_("pieces not written with bytes_to_unicode()"))
        raise
    return as_list(got, case=case, what="encode", item=int)


# --- the checks ---------------------------------------------------------------------------------

def test_bytes_to_unicode(kata):
    case, expected = "bytes_to_unicode()", hf_byte_table()
    got = kata.bytes_to_unicode()
    if not isinstance(got, dict) or sorted(got) != list(range(256)):
        fail(case, _("bytes_to_unicode() must return a dict with the 256 keys 0, 1, ..., 255"),
             _("got {kind} with {count} keys").format(kind=type(got).__name__, count=len(got))
             if isinstance(got, dict) else _("got {kind}").format(kind=type(got).__name__))
    if not all(isinstance(c, str) and len(c) == 1 for c in got.values()):
        fail(case, _("every value must be a single character (a str of length 1)"))
    if len(set(got.values())) != 256:
        fail(case, _("two bytes map to the same character, so decoding could not tell them apart"),
             _("the 68 bytes that are not printable get new characters, chr(256), chr(257), ..."))
    if got == expected:
        return
    byte = next(b for b in range(256) if got[b] != expected[b])
    printable = expected[byte] == chr(byte)
    lines = [_("the first byte that differs is {byte} ({byte:#04x}, {char!r}); yours maps it to {yours!r}").format(
                 byte=byte, char=chr(byte), yours=got[byte]),
             _("it is printable: GPT-2 keeps a printable byte as its own character") if printable else
             _("it is not printable: GPT-2 gives the non-printable bytes chr(256), chr(257), ... in byte order"),
             _("printable bytes: '!'..'~', '¡'..'¬' and '®'..'ÿ', both ends included (188 bytes)")]
    variants = [Variant(_("printable ranges off by one"), _("the three ranges include both ends: "
                        "range(ord('!'), ord('~') + 1), ..."), lambda t=t: t) for t in off_by_one_tables()]
    variants += [Variant(_("non-printable bytes numbered by byte value"), _("count the non-printable bytes: "
                         "the n-th one (n = 0, 1, ...) becomes chr(256 + n), not chr(256 + byte)"),
                         lambda: byte_table(others="byte")),
                 Variant(_("non-printable bytes kept as themselves"), _("space, newline and the control bytes "
                         "must become visible characters: chr(256 + n) for the n-th of them"),
                         lambda: byte_table(others="self"))]
    diagnose(got, expected, case=case, what="bytes_to_unicode()", lines=lines, variants=lambda: variants)


@pytest.mark.parametrize("text", TEXTS)
def test_pretokenize(kata, text):
    case = f"pretokenize({case_text(text)})"
    got = as_list(kata.pretokenize(text), case=case, what="pretokenize", item=str)
    variants = lambda: [*(Variant(_(name), _(hint), functools.partial(split, text))  # noqa: E731
                          for name, (split, hint) in WRONG_SPLITS.items()),
                        Variant(_("pieces written with bytes_to_unicode()"), _("pretokenize returns pieces of the "
                                "text itself (' world'); encode turns them into bytes_to_unicode() "
                                "characters ('Ġworld') afterwards"), lambda: [p for p, _offsets in
                                hf().backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)])]
    expect_same(got, hf_pieces(text), case=case, what="pretokenize", unit="piece", variants=variants)


BPE_WORDS = ["Hello", " world", " tokenization", " unbelievably", " Antidisestablishmentarianism",
             " Mississippi", " café", "🦀", "    ", " 1234567", " 日本", " xyzzy", "a"]  # pieces of text


@pytest.mark.parametrize("piece", BPE_WORDS)
def test_bpe(kata, piece):
    word = "".join(hf_byte_table()[b] for b in piece.encode("utf-8"))  # what bpe() sees: "Ġworld"
    case = _("bpe({word!r}, ranks of merges.txt)  (the piece {piece!r})").format(word=word, piece=piece)
    got = as_list(kata.bpe(word, constant(kata, "hf_ranks", lambda: dict(hf_ranks()))), case=case, what="bpe",
                  item=str)
    variants = lambda: [Variant(_(name), _(hint), lambda run=run: list(run(word)))  # noqa: E731
                        for name, (run, hint) in WRONG_MERGES.items()]
    expect_same(got, hf_bpe(word), case=case, what="bpe", unit="symbol", variants=variants)


def test_bpe_small_table(kata):
    """A hand-made merge table where each wrong rule gives another split; "bc" has rank 0."""
    from tokenizers.models import BPE

    merges = [("b", "c"), ("a", "b"), ("c", "d"), ("bc", "d"), ("a", "bcd")]
    vocab = {s: i for i, s in enumerate(["a", "b", "c", "d", "bc", "ab", "cd", "bcd", "abcd"])}
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    model = BPE(vocab=vocab, merges=merges)
    for word in ["abc", "bcd", "bcdcd", "abcd", "abab"]:
        case = f"bpe({word!r}, ranks={ranks})"
        got = as_list(kata.bpe(word, dict(ranks)), case=case, what="bpe", item=str)
        expect_same(got, [t.value for t in model.tokenize(word)], case=case, what="bpe", unit="symbol",
                    variants=lambda word=word, ranks=ranks: small_table_variants(word, ranks))


def small_table_variants(word: str, ranks: dict) -> list[Variant]:
    def run(choose):
        parts = list(word)
        while pairs := [p for p in zip(parts, parts[1:]) if p in ranks]:
            parts = merge(parts, choose(pairs))
        return parts

    rules = {"merges applied by position in the word": lambda pairs: pairs[0],
             "merges applied by frequency": lambda pairs: max(pairs, key=pairs.count),
             "merges applied from the highest rank": lambda pairs: max(pairs, key=ranks.get)}
    return [Variant(_(name), _(WRONG_MERGES[name][1]), lambda rule=rule: run(rule)) for name, rule in rules.items()]


@pytest.mark.parametrize("text", TEXTS)
def test_encode(kata, text):
    case = f"encode({case_text(text)})"
    got = encode(kata, text, case)
    expect_same(got, hf().encode(text), case=case, what="encode", unit="token", show=show_token,
                variants=lambda: encode_variants(text))


@pytest.mark.parametrize("k", RANDOM)
def test_encode_random(kata, seed, k):
    text = random_text(1000 * seed + k)
    case = _("encode({text}), a text drawn with seed {seed}").format(text=case_text(text, 200), seed=1000 * seed + k)
    got = encode(kata, text, case)
    expect_same(got, hf().encode(text), case=case, what="encode", unit="token", show=show_token,
                variants=lambda: encode_variants(text))


def decode(kata, ids: list[int], case: str) -> str:
    try:
        got = learner_tokenizer(kata).decode(list(ids))
    except UnicodeDecodeError as error:
        fail(case, _("decode raised UnicodeDecodeError ({reason})").format(reason=error.reason),
             _("these ids end in the middle of a character (generation can stop anywhere): decode the "
               "bytes with errors=\"replace\", which writes U+FFFD (�) for an incomplete character"),
             diagnosis=_("strict UTF-8 decoding"))
    if not isinstance(got, str):
        fail(case, _("decode returned {kind}, expected a str").format(kind=type(got).__name__),
             _("did you forget a `return`?") if got is None else
             _("decode the bytes to text: data.decode('utf-8', ...)"))
    return got


def expect_text(got: str, expected: str, *, case: str, ids: list[int]) -> None:
    if got == expected:
        return
    at = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
    lines = [_("yours has {count} characters, GPT-2's has {expected}; they differ from character {at} on").format(
                 count=len(got), expected=len(expected), at=at),
             _("GPT-2's: {text!r}").format(text=expected[max(0, at - 10):at + 10]),
             _("yours:   {text!r}").format(text=got[max(0, at - 10):at + 10])]
    diagnose(got, expected, case=case, what="decode", lines=lines, variants=lambda: decode_variants(ids))


@pytest.mark.parametrize("text", TEXTS)
def test_decode(kata, text):
    ids = hf().encode(text)
    case = _("decode(GPT-2's ids of {text})").format(text=case_text(text))
    expect_text(decode(kata, ids, case), hf_decode(ids), case=case, ids=ids)


def test_decode_cut_character(kata):
    """Generation may stop inside an emoji: the partial character decodes to U+FFFD, like HF."""
    ids = hf().encode("🦀 crab, 👩‍💻 and é")
    for k in range(1, len(ids)):
        case = _("decode(the first {k} ids of GPT-2's encoding of '🦀 crab, 👩‍💻 and é')").format(k=k)
        expect_text(decode(kata, ids[:k], case), hf_decode(ids[:k]), case=case, ids=ids[:k])


@pytest.mark.parametrize("k", RANDOM)
def test_round_trip(kata, seed, k):
    text = random_text(1000 * seed + k + 500)
    case = _("decode(encode({text})), a text drawn with seed {seed}").format(
        text=case_text(text, 200), seed=1000 * seed + k + 500)
    ids = encode(kata, text, case)
    got = decode(kata, ids, case)
    if got != text:
        expect_text(got, text, case=case, ids=hf().encode(text))
