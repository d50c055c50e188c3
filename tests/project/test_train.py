"""`nox -s train`: training runs the learner's (or the reference's) e06, e07 and e10 code on the
shipped Shakespeare or any text file, the loss falls, and the sample and a loss curve are saved."""

import argparse
import math
import re
import struct
import zlib
from pathlib import Path

from gpt2lab import cli, plot, train
from gpt2lab.check import ROOT
from tests.project.conftest import stubs_root

TEXT = "the cat sat on the mat, and the dog sat on the log.\n" * 40


def options(path, *extra):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser, ROOT)
    return parser.parse_args([str(path), "--impl", "solutions", "--steps", "40", "--n-layer", "1",
                              "--n-embd", "32", "--n-head", "2", "--block-size", "16", "--batch-size", "8",
                              "--lr", "3e-3", "--warmup", "5", "--log-every", "10", "--sample-tokens", "30",
                              "--device", "cpu", *extra])


def test_the_loss_falls_on_a_tiny_text(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    lines = []
    report = train.run(options(path), out=lines.append)
    assert report.steps == 40 and len(report.losses) == 40
    first, last = sum(report.losses[:5]) / 5, sum(report.losses[-5:]) / 5
    assert last < first - 0.8, report.losses  # from about ln(20) = 3.0 to well under 2
    assert report.val_after < report.val_before - 0.8
    assert isinstance(report.sample, str) and len(report.sample) == 30  # one character per token
    output = "\n".join(lines)
    assert "step    40/40 | loss" in output and "held-out loss after 40 steps" in output


def test_unwritten_exercises_are_explained(tmp_path, capsys):
    """The fresh stubs, in a student's repository (no solutions/): a message that names what to
    write, no traceback, and no mention of a reference the student does not have."""
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    code = cli.main(["train", str(path), "--root", str(stubs_root()), "--steps", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not written yet" in err and "nox -s check -- e10" in err and "Traceback" not in err
    assert "solutions" not in err


def test_missing_file_is_explained(tmp_path, capsys):
    code = cli.main(["train", str(tmp_path / "nowhere.txt"), "--impl", "solutions", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read" in err and "nowhere.txt" in err and "Traceback" not in err
    code = cli.main(["train", str(tmp_path), "--impl", "solutions", "--device", "cpu"])  # a folder
    assert code == 2 and "cannot read" in capsys.readouterr().err


def test_without_a_file_it_trains_on_shakespeare_and_saves_a_sample_and_a_loss_curve(tmp_path):
    """What a fresh clone's `nox -s train` does, made short: the shipped corpus, a PNG next to the sample."""
    parser = argparse.ArgumentParser()
    train.add_arguments(parser, ROOT)
    args = parser.parse_args(["--impl", "solutions", "--steps", "3", "--n-layer", "1", "--n-embd", "16",
                              "--n-head", "2", "--block-size", "8", "--batch-size", "2", "--log-every", "1",
                              "--sample-tokens", "12", "--device", "cpu", "--out", str(tmp_path / "run")])
    lines = []
    report = train.run(args, out=lines.append)
    assert Path(args.file) == train.CORPUS and train.CORPUS.stat().st_size > 1_000_000
    assert "vocabulary 65" in lines[0] and "after 'First Ci'" in "\n".join(lines)  # its first line, cropped to the context
    sample, curve = report.saved
    assert sample == tmp_path / "run" / "sample.txt" and sample.read_text(encoding="utf-8") == report.sample
    assert curve == tmp_path / "run" / "loss.png"
    png = curve.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (640, 400)
    assert "1 layer, 2 heads" in lines[1]


def test_the_loss_curve_is_a_valid_png_whatever_the_losses(tmp_path):
    for losses, held_out in (([], []), ([2.0], [(0, 2.0), (1, 2.0)]), ([3.0, math.nan, math.inf, 1.0], [(0, math.nan)])):
        data = plot.loss_curve(losses, held_out, tmp_path / "curve.png").read_bytes()
        chunks, at = {}, 8
        while at < len(data):  # every chunk's CRC holds, and the image data inflates to its size
            size, kind = struct.unpack(">I4s", data[at:at + 8])
            body = data[at + 8:at + 8 + size]
            assert struct.unpack(">I", data[at + 8 + size:at + 12 + size])[0] == zlib.crc32(kind + body)
            chunks[kind] = body
            at += 12 + size
        assert len(zlib.decompress(chunks[b"IDAT"])) == 400 * (1 + 3 * 640) and b"IEND" in chunks


def test_training_speaks_spanish(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GPT2LAB_LANG", "es")
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    lines = []
    train.run(options(path, "--steps", "10"), out=lines.append)
    output = "\n".join(lines)
    assert "paso    10/10 | pérdida" in output or "paso 10/10 | pérdida" in output, output
    assert "pérdida con los datos reservados después de 10 pasos" in output, output
    assert not re.search(r"\b(loss|step|held-out)\b(?!\.png)", output), output
    code = cli.main(["train", str(tmp_path / "nowhere.txt"), "--impl", "solutions", "--device", "cpu"])
    assert code == 2 and "nowhere.txt" in capsys.readouterr().err
