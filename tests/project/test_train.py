"""`nox -s train -- FILE`: training runs the learner's (or the reference's) e06, e07 and e10 code on
any text file, and the loss falls."""

import argparse

from gpt2lab import cli, train
from gpt2lab.check import ROOT

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
    """The fresh stubs: a message that names what to write, no traceback."""
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    code = cli.main(["train", str(path), "--impl", "exercises", "--steps", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not written yet" in err and "--impl solutions" in err and "Traceback" not in err


def test_missing_file_is_explained(tmp_path, capsys):
    code = cli.main(["train", str(tmp_path / "nowhere.txt"), "--impl", "solutions", "--device", "cpu"])
    assert code == 2 and "nowhere.txt" in capsys.readouterr().err
