"""Exercise zero (`nox -s env`): what this machine offers, and clear words when something is missing."""

import os
import subprocess
import sys

import torch

from gpt2lab import env
from gpt2lab.check import ROOT

VERSIONS = {name: "1.0" for name in env.requirements()}


def facts(**changes) -> env.Facts:
    base = dict(python="3.11.7", executable="/usr/bin/python3", versions=dict(VERSIONS))
    base.update(changes)
    return env.Facts(**base)


def text(f: env.Facts) -> tuple[str, bool]:
    lines, ok = env.report(f)
    return "\n".join(lines), ok


def t4(**changes) -> env.GPU:
    base = dict(name="Tesla T4", memory_gib=14.7, free_gib=14.6, capability=(7, 5), bf16="emulated", fp16=True)
    base.update(changes)
    return env.GPU(**base)


def test_without_a_gpu_the_checks_run_on_the_cpu_and_colab_is_explained():
    out, ok = text(facts())
    assert ok
    assert "CUDA          not available: this torch is a CPU-only build" in out
    assert "checks run on cpu" in out and "Runtime > Change runtime type > T4 GPU" in out
    assert "reference     works offline" in out and out.endswith("Ready: run `nox -s check` to see where you stand.")


def test_cuda_build_without_a_visible_gpu_names_the_driver():
    out, ok = text(facts(torch_cuda_build="12.4"))
    assert ok and "built for CUDA 12.4, but no GPU or driver is visible" in out


def test_a_gpu_is_described_and_used():
    out, ok = text(facts(torch_cuda_build="12.4", cuda_available=True, gpus=[t4()]))
    assert ok
    assert "GPU 0         Tesla T4, 14.7 GiB, 14.6 GiB free, compute capability 7.5" in out
    assert "fp16: yes, bf16: emulated" in out
    assert "checks run on cuda" in out and "--device cpu" in out
    assert facts(cuda_available=True).device == "cuda" and facts().device == "cpu"


def test_a_gpu_that_computes_wrong_is_not_ready():
    broken = t4(computes="RuntimeError: no kernel image")
    out, ok = text(facts(torch_cuda_build="12.4", cuda_available=True, gpus=[broken]))
    assert not ok and "BROKEN: RuntimeError: no kernel image" in out and "Not ready" in out


def test_missing_packages_are_named_with_the_install_command():
    versions = dict(VERSIONS, transformers=None, nox=None)
    out, ok = text(facts(versions=versions))
    assert not ok
    assert "transformers  MISSING" in out and "Missing: transformers, nox." in out
    assert "python -m pip install -e ." in out
    out, ok = text(facts(versions=dict(VERSIONS, torch=None)))
    assert not ok and "CUDA" not in out  # nothing to say about GPUs without torch


def test_a_broken_reference_is_not_ready():
    out, ok = text(facts(reference="OSError: cannot load the tokenizer"))
    assert not ok and "reference     BROKEN (offline, HF_HUB_OFFLINE=1): OSError: cannot load the tokenizer" in out


def test_whether_gpt2s_weights_are_cached_is_said_with_the_download_size():
    out, ok = text(facts(weights="/home/ana/.cache/huggingface/hub"))
    assert ok and "GPT-2 weights in the Hugging Face cache (/home/ana/.cache/huggingface/hub): " \
        "`nox -s demo` runs offline" in out
    out, ok = text(facts(weights=""))
    assert ok and "GPT-2 weights not downloaded yet: `nox -s demo` downloads OpenAI's GPT-2 (124M) once, 548 MB" in out


def test_the_cache_is_read_where_hugging_face_keeps_it(tmp_path):
    from gpt2lab import hub

    snapshot = tmp_path / "hf" / "hub" / "models--gpt2" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    with hub.offline(tmp_path / "hf"):
        assert env.weights_cache() == ""
        (snapshot.parent.parent / "refs").mkdir()
        (snapshot.parent.parent / "refs" / "main").write_text("abc123")
        for name in ("config.json", "model.safetensors"):
            (snapshot / name).write_text("{}")
        assert env.weights_cache() == str(tmp_path / "hf" / "hub")


def test_the_versions_are_printed_before_torch_is_looked_at(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(env, "gather_torch", lambda facts: seen.append(capsys.readouterr().out))
    monkeypatch.setattr(env, "gather_reference", lambda facts: None)
    env.main()
    assert seen and seen[0].startswith("GPT-2 kata — your environment") and "  torch " in seen[0]


def test_this_machine():
    found = env.gather()
    assert not found.missing
    assert found.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert found.reference is None  # the reference works offline here
    assert all(gpu.computes is None for gpu in found.gpus)
    assert len(found.gpus) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_env_command_works_offline_without_any_cache(tmp_path):
    """A fresh HF_HOME: nothing cached, no network; the tokenizer must come from the repository."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    environ.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "env"], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "works offline" in done.stdout and "[15496, 995]" in done.stdout
    assert "checks run on " + ("cuda" if torch.cuda.is_available() else "cpu") in done.stdout
    assert "GPT-2 weights not downloaded yet" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_packages_checked_are_pyprojects_dependencies():
    names = env.requirements()
    assert {"torch", "transformers", "einops", "pytest", "pytest-xdist", "nox"} <= set(names)
    assert env.missing_packages() == []


def test_conditional_requirements_count_only_where_their_marker_holds():
    assert env._applies("torch>=2.2,<3")
    assert env._applies("tomli>=1.1; python_version < '9'")
    assert not env._applies("tomli>=1.1; python_version < '3.0'")
    assert not env._applies('pytest-cov; extra == "dev"')


def test_env_lang_es_speaks_spanish_whatever_the_environment_says():
    environ = {**os.environ, "GPT2LAB_LANG": "en", "LANG": "en_US.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "env", "--lang", "es"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=environ)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Kata de GPT-2 — tu entorno")
    assert "  referencia    funciona sin red" in done.stdout and "[15496, 995]" in done.stdout
    assert "Listo: ejecuta `nox -s check` para ver por dónde vas." in done.stdout


def test_the_language_is_read_from_the_command_line_before_the_parser_is_built():
    from gpt2lab.cli import requested_language

    assert requested_language(["check", "e04", "--lang", "es"]) == "es"
    assert requested_language(["env", "--lang=en"]) == "en"
    assert requested_language(["check", "--lang", "fr"]) is None  # argparse says what is wrong
    assert requested_language(["demo", "--", "--lang", "es"]) is None  # the prompt, not an option
