"""The native backend's tests: only in an environment with transformers' Higgs v2 (transformers >= 5.3).

The kit's default environment (boson-multimodal, transformers 4.46) skips this whole directory.
"""

from __future__ import annotations

import importlib.util

import pytest


def _native_available() -> bool:
    try:
        return importlib.util.find_spec("transformers.models.higgs_audio_v2") is not None
    except ModuleNotFoundError:
        return False


collect_ignore_glob = [] if _native_available() else ["test_*.py"]

SYSTEM_PROMPT = "Generate audio following instruction."


@pytest.fixture(scope="session")
def native_text_tokenizer():
    from higgs_lora.backends.tiny import build_tiny_text_tokenizer

    return build_tiny_text_tokenizer()


@pytest.fixture(scope="session")
def tiny_config():
    from higgs_lora.backends.native.tiny import tiny_config

    return tiny_config()


@pytest.fixture(scope="session")
def native_codec():
    from higgs_lora.backends.native.codec import tiny_audio_tokenizer

    return tiny_audio_tokenizer()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread: measured on a shared 2-core machine, a LoRA step on the
    4-bit tiny model took 0.04 s on one thread and 0.3-2.5 s on two (the threads spin against each other
    and against other processes)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
