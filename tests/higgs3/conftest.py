"""The higgs3 backend's tests: only in an environment with transformers >= 5.3 (Qwen3 + the v2 codec).

The boson environment (transformers 4.46) skips this whole directory (`tests/conftest.py`).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def higgs3_text_tokenizer():
    from higgs_lora.backends.higgs3.tiny import build_tiny_text_tokenizer

    return build_tiny_text_tokenizer()


@pytest.fixture(scope="session")
def higgs3_codec():
    from higgs_lora.backends.native.codec import tiny_audio_tokenizer

    return tiny_audio_tokenizer()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread on a shared 2-core machine (see tests/native/conftest.py)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
