"""e09 (bonus) — GPT-2's tokenizer from scratch: byte-level BPE.

GPT-2 never sees characters: it sees ids of tokens, pieces of UTF-8 bytes learned from text. To
turn text into ids, (1) the text is cut into pieces by a regular expression (words with their
leading space, numbers, punctuation, whitespace); (2) each piece becomes its UTF-8 bytes, each
byte written as one printable character (so that a space is "Ġ" and a newline "Ċ"); (3) the
characters of the piece are merged pairwise, the pair learned first (lowest rank in merges.txt)
first, until no learned pair is left; (4) each resulting token is looked up in vocab.json.
Decoding goes back: ids -> token strings -> bytes -> UTF-8 text.

Your encode and decode must give exactly the ids and text of Hugging Face's GPT2TokenizerFast,
on English, accents, emoji, Chinese, code, runs of spaces and the special token <|endoftext|>.
The files are in the repository: gpt2lab/data/gpt2/vocab.json and merges.txt.

Check with: nox -s check -- e09          Hints: nox -s hint -- e09

Español: GPT-2 no ve caracteres sino ids de tokens, trozos de bytes UTF-8 aprendidos de texto.
Para pasar de texto a ids, (1) una expresión regular corta el texto en piezas (palabras con su
espacio inicial, números, puntuación, espacios); (2) cada pieza se convierte en sus bytes UTF-8,
y cada byte se escribe como un carácter imprimible ("Ġ" es un espacio, "Ċ" un salto de línea);
(3) los caracteres de la pieza se fusionan por pares, primero el par aprendido antes (rango menor
en merges.txt), hasta que no quede ningún par aprendido; (4) cada token resultante se busca en
vocab.json. Decodificar es el camino inverso: ids -> tokens -> bytes -> texto UTF-8. Tu encode y
tu decode deben dar exactamente los ids y el texto de GPT2TokenizerFast de Hugging Face.
"""

from pathlib import Path

import regex  # noqa: F401  (the third-party module: it knows \p{L} and \p{N}; Python's `re` does not)

EOT = "<|endoftext|>"  # GPT-2's only special token, id 50256


def bytes_to_unicode() -> dict[int, str]:
    """The table {byte: character} GPT-2 writes bytes with: 256 entries, 256 distinct characters.

    The 188 printable bytes keep their own character: "!" (33) to "~" (126), "¡" (161) to "¬"
    (172) and "®" (174) to "ÿ" (255), all ends included. The other 68 bytes (0-32, 127-160 and
    173), in increasing order, get chr(256), chr(257), ...: the n-th of them gets chr(256 + n).
    So the space (32, the 33rd non-printable byte) is "Ġ" = chr(288) and "\\n" (10) is "Ċ".

    Trap: Python's `range` excludes its end: the printable ranges are off by one without `+ 1`.

    Español: la tabla {byte: carácter} con la que GPT-2 escribe los bytes: 256 entradas y 256
    caracteres distintos. Los 188 bytes imprimibles conservan su carácter: "!" (33) a "~" (126),
    "¡" (161) a "¬" (172) y "®" (174) a "ÿ" (255), extremos incluidos. Los otros 68 bytes (0-32,
    127-160 y 173), en orden creciente, reciben chr(256), chr(257), ...: el n-ésimo recibe
    chr(256 + n). Trampa: `range` excluye su final; sin `+ 1` los rangos quedan cortos.
    """
    raise NotImplementedError("e09: bytes_to_unicode is not written yet")


def pretokenize(text: str) -> list[str]:
    """Cut text into GPT-2's pieces, left to right; "".join(pieces) == text.

    At each position the first of these alternatives that matches is taken, as long as it goes:
      1. a contraction, lower case only: 's 't 're 've 'm 'll 'd
      2. an optional space, then one or more letters (Unicode \\p{L})
      3. an optional space, then one or more numbers (\\p{N}: also ², ½, Ⅻ)
      4. an optional space, then one or more characters that are neither whitespace, letters
         nor numbers (punctuation, symbols, emoji, "_")
      5. whitespace not followed by a non-whitespace character: \\s+(?!\\S)
      6. any other whitespace: \\s+
    "Hello  world's" -> ["Hello", " ", " world", "'s"]: a run of spaces leaves its last space to
    the next word. <|endoftext|> is not special here (encode deals with it).

    Trap: Python's `re` has no \\p{L}; `\\w` counts digits and "_" as letters. Use `regex`.

    Español: corta el texto en las piezas de GPT-2, de izquierda a derecha ("".join(piezas) ==
    texto). En cada posición se toma la primera alternativa que encaja, tan larga como se pueda:
    1. una contracción en minúsculas ('s 't 're 've 'm 'll 'd); 2. un espacio opcional y letras
    (\\p{L}); 3. un espacio opcional y números (\\p{N}, también ², ½, Ⅻ); 4. un espacio opcional y
    caracteres que no son espacio, letra ni número; 5. espacios no seguidos de un carácter que no
    sea espacio, \\s+(?!\\S); 6. cualquier otro espacio, \\s+. "Hello  world's" -> ["Hello", " ",
    " world", "'s"]. Trampa: `re` no tiene \\p{L} y `\\w` cuenta dígitos y "_"; usa `regex`.
    """
    raise NotImplementedError("e09: pretokenize is not written yet")


def bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge the characters of one piece into tokens. ranks[(a, b)] = line of "a b" in merges.txt.

    word is a piece written with bytes_to_unicode() ("Ġworld" for " world"). Start from its
    characters; while some adjacent pair (a, b) is in ranks, take the pair with the *lowest*
    rank and replace every occurrence of it, left to right, by the single symbol a + b. Return the
    symbols: bpe("Ġworld", ranks) == ["Ġworld"], bpe("Ġtokenization", ranks) == ["Ġtoken", "ization"].

    Trap: the order is the rank alone: not the leftmost pair, not the most frequent pair, not the
    highest rank.

    Español: fusiona los caracteres de una pieza en tokens; ranks[(a, b)] es la línea de "a b" en
    merges.txt. Empieza por sus caracteres; mientras algún par vecino (a, b) esté en ranks, toma
    el de rango *menor* y sustituye cada aparición, de izquierda a derecha, por el símbolo a + b.
    Trampa: el orden lo da solo el rango: ni el par más a la izquierda, ni el más frecuente, ni el
    de rango mayor.
    """
    raise NotImplementedError("e09: bpe is not written yet")


class Tokenizer:
    """GPT-2's tokenizer. The checks use only from_dir, encode and decode.

    Tokenizer.from_dir(path): read path/vocab.json ({token string: id}, 50257 entries) and
        path/merges.txt (a "#version: 0.2" line, then one merge "a b" per line, rank 0 first).
        Read both as UTF-8 (the default encoding on Windows is not).
    encode(text) -> list[int]: every <|endoftext|> in the text is id 50256; the text between them
        goes through pretokenize, bytes_to_unicode, bpe and vocab.json. encode("Hello world") ==
        [15496, 995].
    decode(ids) -> str: join the token strings, map each character back to its byte, decode the
        bytes as UTF-8 with errors="replace" (ids may end in the middle of an emoji: that part
        becomes "�"). decode(encode(text)) == text.

    Traps: decode must join the bytes of all the tokens before decoding them (an emoji spans
    several tokens); a cache {word: tokens} makes encode fast, since words repeat.

    Español: el tokenizador de GPT-2; los tests usan solo from_dir, encode y decode.
    from_dir(path) lee vocab.json ({token: id}) y merges.txt (una línea "#version: 0.2" y luego una
    fusión "a b" por línea, rango 0 primero), ambos en UTF-8. encode(texto) -> list[int]: cada
    <|endoftext|> es el id 50256 y el texto entre ellos pasa por pretokenize, bytes_to_unicode, bpe
    y vocab.json. decode(ids) -> str: une los tokens, convierte cada carácter en su byte y
    decodifica en UTF-8 con errors="replace". Trampas: une los bytes de todos los tokens antes de
    decodificar (un emoji ocupa varios tokens); una caché {palabra: tokens} acelera encode.
    """

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        raise NotImplementedError("e09: Tokenizer.__init__ is not written yet")

    @classmethod
    def from_dir(cls, path: str | Path) -> "Tokenizer":
        raise NotImplementedError("e09: Tokenizer.from_dir is not written yet")

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError("e09: Tokenizer.encode is not written yet")

    def decode(self, ids: list[int]) -> str:
        raise NotImplementedError("e09: Tokenizer.decode is not written yet")
