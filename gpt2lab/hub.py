"""Where GPT-2's pretrained weights come from: a local directory, the Hugging Face cache, the hub.

Used by `nox -s demo` (to say what is missing before waiting on a network that is not there) and
by the suites (to test what a learner's `from_pretrained` says when nothing can be loaded).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from gpt2lab.i18n import N_

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# What `nox -s demo --model NAME` downloads the first time: the checkpoint's model.safetensors
# (gpt2's is 548,105,171 bytes)
SIZES = {"gpt2": "548 MB", "gpt2-medium": "1.5 GB", "gpt2-large": "3.2 GB", "gpt2-xl": "6.4 GB"}
ITS_SIZE = N_("its size")


def download_size(name: str) -> str:
    """The size of the download, or the English "its size" (a msgid: translate it on use)."""
    return SIZES.get(name, ITS_SIZE)


def cache_dir() -> str:
    """Where the Hugging Face cache is on this machine (HF_HOME, HF_HUB_CACHE, ~/.cache/huggingface)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def is_cached(name: str) -> bool:
    """True when the hub checkpoint `name` (its config and its weights) is in the local cache."""
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(name, filename), str)

    return cached("config.json") and any(cached(f) for f in WEIGHT_FILES)


def hub_reachable(timeout: float = 5.0) -> bool:
    """One request to the hub, no retries: False when offline mode is on or the hub cannot be reached."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # noqa: BLE001 — DNS, proxy, TLS, timeout: all mean "not reachable now"
        return False
    return True


@contextlib.contextmanager
def offline(home: Path | None = None) -> Iterator[None]:
    """As if HF_HUB_OFFLINE=1 (and HF_HOME=home, when given) had been set before Python started.

    huggingface_hub reads these variables once, at import, so its constants are patched as well.
    """
    from huggingface_hub import constants

    env = {"HF_HUB_OFFLINE": "1"}
    patched = {"HF_HUB_OFFLINE": True}
    if home is not None:
        env["HF_HOME"] = str(home)
        patched.update(HF_HOME=str(home), HF_HUB_CACHE=os.path.join(home, "hub"),
                       HF_ASSETS_CACHE=os.path.join(home, "assets"))
    with mock.patch.dict(os.environ, env), mock.patch.multiple(constants, **patched):
        yield
