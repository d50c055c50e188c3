"""The loss curve of `nox -s train` as a PNG, with the standard library only (zlib and struct).

matplotlib is not among the kata's dependencies, so the picture is drawn here: a white canvas,
axes with a few labelled ticks (a 3x5 pixel font, doubled: digits and the capitals of the labels,
in English and Spanish), the training loss of every step in
light blue with its moving average in dark blue, and the held-out loss, measured before the first
step and after the last, as orange squares. It opens in any image viewer, and inline in Colab.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

from gpt2lab import i18n  # i18n._, not _: the loops below use _ for what they skip

Colour = tuple[int, int, int]
WHITE, BLACK, GREY = (255, 255, 255), (40, 40, 40), (225, 225, 225)
LIGHT_BLUE, BLUE, ORANGE = (170, 200, 245), (31, 95, 191), (230, 120, 20)

# 3 columns x 5 rows per character, top row first
FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    " ": "000000000000000", "A": "010101111101101", "D": "110101101101110", "E": "111100110100111",
    "H": "101101111101101", "I": "111010010010111", "L": "100100100100111", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "R": "110101110101101", "S": "011100010001110",
    "T": "111010010010010", "U": "101101101101111", "M": "101111111101101", "V": "101101101101010",
    "C": "011100100100011", "É": "010111110100111", "Ó": "010111101101111", "Á": "010111101111101",
}


class Canvas:
    def __init__(self, width: int, height: int, background: Colour = WHITE):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, colour: Colour, size: int = 1) -> None:
        for dy in range(size):
            for dx in range(size):
                px, py = x + dx - size // 2, y + dy - size // 2
                if 0 <= px < self.width and 0 <= py < self.height:
                    i = 3 * (py * self.width + px)
                    self.pixels[i:i + 3] = bytes(colour)

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: Colour, size: int = 1) -> None:
        steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0))))
        for k in range(steps + 1):
            t = k / steps
            self.dot(round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t), colour, size)

    def text(self, x: int, y: int, text: str, colour: Colour = BLACK, scale: int = 2) -> None:
        for n, char in enumerate(text):
            glyph = FONT.get(char, FONT[" "])
            for row in range(5):
                for col in range(3):
                    if glyph[3 * row + col] == "1":
                        for dy in range(scale):
                            for dx in range(scale):
                                self.dot(x + (4 * n + col) * scale + dx, y + row * scale + dy, colour)

    def png(self) -> bytes:
        row = 3 * self.width
        raw = b"".join(b"\x00" + bytes(self.pixels[y * row:(y + 1) * row]) for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def text_width(text: str, scale: int = 2) -> int:
    return (4 * len(text) - 1) * scale


def moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values between low and high, for the labels of an axis."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def loss_curve(losses: list[float], held_out: list[tuple[int, float]], path: Path,
               width: int = 640, height: int = 400) -> Path:
    """Draw the training losses (one per step) and the held-out points (step, loss) into `path`."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 56, width - 24, 34, height - 40
    values = [v for v in losses + [v for _, v in held_out] if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    low, high = (low - 0.5, high + 0.5) if high - low < 1e-9 else (low, high)
    low, high = low - 0.04 * (high - low), high + 0.04 * (high - low)
    last = max(len(losses), max((s for s, _ in held_out), default=0), 1)

    def x(step: float) -> float:
        return left + (right - left) * step / last

    def y(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    for value in ticks(low, high):
        canvas.line(left, y(value), right, y(value), GREY)
        label = f"{value:.1f}"
        canvas.text(left - 6 - text_width(label), round(y(value)) - 5, label)
    for step in ticks(0, last, 4):
        label = str(int(step))
        canvas.line(x(step), bottom, x(step), bottom + 4, BLACK)
        canvas.text(round(x(step)) - text_width(label) // 2, bottom + 8, label)
    canvas.line(left, top, left, bottom, BLACK)
    canvas.line(left, bottom, right, bottom, BLACK)
    step_label = i18n._("STEP")
    canvas.text(right - text_width(step_label), bottom + 24, step_label)
    finite = [(i + 1, v) for i, v in enumerate(losses) if math.isfinite(v)]
    for (s0, v0), (s1, v1) in zip(finite, finite[1:]):
        canvas.line(x(s0), y(v0), x(s1), y(v1), LIGHT_BLUE)
    smooth = moving_average([v for _, v in finite], max(1, len(finite) // 50))
    for (s0, _), (s1, _), v0, v1 in zip(finite, finite[1:], smooth, smooth[1:]):
        canvas.line(x(s0), y(v0), x(s1), y(v1), BLUE, size=2)
    for step, value in held_out:
        if math.isfinite(value):
            canvas.dot(round(x(step)), round(y(value)), ORANGE, size=7)
    at = left  # the legend, left to right: what the axis shows, then each curve in its colour
    for label, colour in ((i18n._("LOSS"), BLACK), (i18n._("TRAIN"), BLUE), (i18n._("HELD-OUT"), ORANGE)):
        canvas.text(at, 10, label, colour)
        at += text_width(label) + 22
    path = Path(path)
    path.write_bytes(canvas.png())
    return path
