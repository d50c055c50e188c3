"""Classic mistakes of the BPE tokenizer kata (e09)."""

from tests.project.mutants import Mutant

M = "e09_bpe"
PATTERN = r'''PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""'''
BEST = "best = min(zip(parts, parts[1:]), key=lambda pair: ranks.get(pair, math.inf))"
OTHERS = "table.update({b: chr(256 + n) for n, b in enumerate(others)})"
UTF8 = 'return data.decode("utf-8", errors="replace")'


def pattern(new: str) -> tuple[str, str]:
    return PATTERN, f'PATTERN = r"""{new}"""'


MUTANTS = [
    # the byte table
    Mutant("e09", "printable range end excluded", M,
           (('range(ord("!"), ord("~") + 1)', 'range(ord("!"), ord("~"))'),), "printable ranges off by one"),
    Mutant("e09", "second range end excluded", M,
           (('range(ord("¡"), ord("¬") + 1)', 'range(ord("¡"), ord("¬"))'),), "printable ranges off by one"),
    Mutant("e09", "third range starts one late", M,
           (('range(ord("®"), ord("ÿ") + 1)', 'range(ord("®") + 1, ord("ÿ") + 1)'),),
           "printable ranges off by one"),
    Mutant("e09", "non-printable numbered by byte", M,
           ((OTHERS, "table.update({b: chr(256 + b) for n, b in enumerate(others)})"),),
           "non-printable bytes numbered by byte value"),
    Mutant("e09", "non-printable kept", M,
           ((OTHERS, "table.update({b: chr(b) for n, b in enumerate(others)})"),),
           "non-printable bytes kept as themselves"),
    # the pre-tokenisation pattern
    Mutant("e09", "no contractions", M,
           (pattern(r""" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""),),
           "contractions not split off"),
    Mutant("e09", "contractions in any case", M,
           (pattern(r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""),),
           "contractions matched in any case"),
    Mutant("e09", "whitespace runs whole", M,
           (pattern(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+"""),),
           "whitespace runs kept whole"),
    Mutant("e09", "no leading space", M,
           (pattern(r"""'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""),),
           "space not attached to the next word"),
    Mutant("e09", "re with w and d", M,
           (("import regex  #", "import re as regex  #"),
            pattern(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")),
           "\\w and \\d of Python's re instead of \\p{L} and \\p{N}"),
    Mutant("e09", "pieces returned as bytes_to_unicode characters", M,
           (("return regex.findall(PATTERN, text)",
             'return ["".join(bytes_to_unicode()[b] for b in p.encode("utf-8")) for p in regex.findall(PATTERN, text)]'),),
           "pieces written with bytes_to_unicode()"),
    Mutant("e09", "alternatives reordered", M,  # whitespace first: "\s+(?!\S)" eats spaces words need
           (pattern(r"""\s+(?!\S)|\s+|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""),)),
    # the merge loop
    Mutant("e09", "merge leftmost pair", M,
           ((BEST, "best = next((pair for pair in zip(parts, parts[1:]) if pair in ranks), None)"),),
           "merges applied by position in the word"),
    Mutant("e09", "merge most frequent pair", M,
           ((BEST, "pairs = [pair for pair in zip(parts, parts[1:]) if pair in ranks]\n"
                   "        best = max(pairs, key=pairs.count) if pairs else None"),),
           "merges applied by frequency", first="merges applied by position in the word"),  # the same on "Hello"
    Mutant("e09", "merge highest rank", M,
           ((BEST, "best = max(zip(parts, parts[1:]), key=lambda pair: ranks.get(pair, -1))"),),
           "merges applied from the highest rank"),
    Mutant("e09", "stops after one merge", M,
           (("        parts = merged\n", "        parts = merged\n        break\n"),)),
    Mutant("e09", "merges file read backwards", M,
           (("for line in lines[1:] if line]", "for line in lines[1:] if line][::-1]"),),
           "merges applied from the highest rank"),
    # encode and decode
    Mutant("e09", "special token as text", M,
           (("enumerate(text.split(EOT))", "enumerate([text])"),), "<|endoftext|> encoded as text"),
    Mutant("e09", "no byte mapping in decode", M,
           (('data = bytes(self.char_to_byte[c] for c in chars)\n        ' + UTF8, "return chars"),),
           "token strings not mapped back to bytes"),
    Mutant("e09", "latin-1 decode", M,
           ((UTF8, 'return data.decode("latin-1")'),), "bytes read as Latin-1"),
    Mutant("e09", "strict utf-8 decode", M,
           ((UTF8, 'return data.decode("utf-8")'),), "strict UTF-8 decoding"),
    Mutant("e09", "decode token by token", M,
           (('chars = "".join(self.tokens[i] for i in ids)\n'
             '        data = bytes(self.char_to_byte[c] for c in chars)\n        ' + UTF8,
             'return "".join(bytes(self.char_to_byte[c] for c in self.tokens[i]).decode("utf-8", '
             'errors="replace") for i in ids)'),), "each token decoded on its own"),
    Mutant("e09", "no byte mapping in encode", M,
           (('word = "".join(self.byte_to_char[b] for b in piece.encode("utf-8"))', "word = piece"),),
           "pieces not written with bytes_to_unicode()"),
]
