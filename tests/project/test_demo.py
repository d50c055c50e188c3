"""`nox -s demo`: the reference writes what transformers writes; every failure is one clear message."""

import pytest
import torch

from gpt2lab import cli, hub, reference
from gpt2lab.tokenizer import gpt2_tokenizer
from tests.project.conftest import ROOT, make_package, stubs_root

PROMPT = "Hello, I'm a language model,"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small random GPT-2 with GPT-2's vocabulary, written by save_pretrained."""
    directory = tmp_path_factory.mktemp("checkpoint")
    reference.lm_model(32, 4, 64, 2, 50257, 11).save_pretrained(directory)
    return directory


def run(capsys, *args):
    code = cli.main(["demo", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_reference_writes_what_transformers_writes(capsys, checkpoint):
    code, out, err = run(capsys, PROMPT, "--impl", "solutions", "--root", ROOT, "--checkpoint", checkpoint,
                         "-n", "8", "--device", "cpu")
    assert code == 0, err
    tokenizer = gpt2_tokenizer()
    ref = reference.lm_model(32, 4, 64, 2, 50257, 11)
    ids = torch.tensor([tokenizer.encode(PROMPT)])
    tokens = ref.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=8,
                          eos_token_id=None, pad_token_id=0)
    assert out == PROMPT + tokenizer.decode(tokens[0, ids.size(1):].tolist()) + "\n"


def test_sampling_is_reproducible(capsys, checkpoint):
    args = ("Once upon a time", "--impl", "solutions", "--root", ROOT, "--checkpoint", checkpoint, "-n", "8",
            "--temperature", "0.9", "--top-k", "40", "--seed", "5", "--device", "cpu")
    first, second = run(capsys, *args), run(capsys, *args)
    assert first[0] == 0 and first[1] == second[1] and first[1].startswith("Once upon a time")


def test_unfinished_exercises_are_named_without_traceback(capsys, tmp_path, checkpoint):
    stubs = make_package(tmp_path, stubs_root() / "exercises")
    code, out, err = run(capsys, "--impl", stubs, "--root", tmp_path, "--checkpoint", checkpoint)
    assert code == 1 and out == ""
    assert "not finished" in err and "nox -s check" in err
    assert "Traceback" not in err


def test_an_error_in_the_learners_code_points_at_it(capsys, tmp_path, checkpoint):
    broken = make_package(tmp_path, ROOT / "solutions", {"e07_generate": [
        ("logits = model(context)[:, -1, :]", "logits = model(context)[:, -1, :].view(-1, 7, 3)")]})
    code, out, err = run(capsys, "--impl", broken, "--root", tmp_path, "--checkpoint", checkpoint)
    assert code == 1 and "raised RuntimeError" in err and "e07_generate.py" in err and "Traceback" not in err


def test_no_weights_offline_says_how_to_get_them(capsys, tmp_path):
    with hub.offline(tmp_path / "empty-hf-home"):
        code, out, err = run(capsys, "--impl", "solutions", "--root", ROOT)
    assert code == 1 and out == ""
    assert "not in the Hugging Face cache" in err and "--checkpoint DIR" in err
    assert "from_pretrained('gpt2')" in err and "Traceback" not in err


def test_checkpoint_that_is_not_one(capsys, tmp_path):
    code, out, err = run(capsys, "--impl", "solutions", "--root", ROOT, "--checkpoint", tmp_path)
    assert code == 1 and "no config.json" in err


def test_the_demo_speaks_spanish(capsys, tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv("GPT2LAB_LANG", "en")  # restored after cli.main sets it
    stubs = make_package(tmp_path, stubs_root() / "exercises")
    code, out, err = run(capsys, "--impl", stubs, "--root", tmp_path, "--checkpoint", checkpoint, "--lang", "es")
    assert code == 1 and "tu GPT-2 no está terminado" in err and "La demo necesita de e01 a e07" in err
    with hub.offline(tmp_path / "empty-hf-home"):
        code, out, err = run(capsys, "--impl", "solutions", "--root", ROOT, "--lang", "es")
    assert code == 1 and "no están en la caché de Hugging Face" in err and "Traceback" not in err
