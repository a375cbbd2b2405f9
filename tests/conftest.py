"""Shared fixtures: an isolated kit home, offline hub, the tiny tokenizers, clip writers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing may reach the hub: tests build everything they need locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def kit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private HIGGS_LORA_HOME (where the tiny model is materialised) for the whole session."""
    home = tmp_path_factory.mktemp("higgs-lora-home")
    os.environ["HIGGS_LORA_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def audio_tokenizer():
    from higgs_lora.model.tiny import build_tiny_audio_tokenizer

    return build_tiny_audio_tokenizer()


@pytest.fixture(scope="session")
def text_tokenizer():
    from higgs_lora.model.tiny import build_tiny_text_tokenizer

    return build_tiny_text_tokenizer()


@pytest.fixture(scope="session")
def codes_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One codes cache shared by the end-to-end tests, so the smoke clips are encoded once."""
    return tmp_path_factory.mktemp("codes-cache")
