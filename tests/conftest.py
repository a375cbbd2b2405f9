"""Shared fixtures (an isolated kit home, offline hub, the tiny tokenizers) and which tests this
environment runs.

The two backends live in two environments (boson-multimodal pins transformers < 4.47; the native
classes need >= 5.3), and `pytest` runs the same command in each. A test module that imports a
backend's package (`higgs_lora.backends.boson`, `boson_multimodal`, or the native one) is collected
only where that backend is installed; every other test runs in both environments, on whichever
backend is there. `HIGGS_LORA_TEST_BACKEND` (set by CI) makes a missing backend an error instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# Nothing may reach the hub: tests build everything they need locally. Set before anything imports
# huggingface_hub (finding the installed backends imports transformers), which reads them once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from higgs_lora.backends import installed

BACKEND_IMPORTS = {
    "boson": re.compile(r"^\s*(?:from|import) (?:higgs_lora\.backends\.boson|boson_multimodal)\b", re.M),
    "native": re.compile(r"^\s*(?:from|import) higgs_lora\.backends\.native\b", re.M),
    "higgs3": re.compile(r"^\s*(?:from|import) higgs_lora\.backends\.higgs3\b", re.M),
}
HERE = installed()
if os.environ.get("HIGGS_LORA_TEST_BACKEND") and os.environ["HIGGS_LORA_TEST_BACKEND"] not in HERE:
    raise pytest.UsageError(
        f"HIGGS_LORA_TEST_BACKEND={os.environ['HIGGS_LORA_TEST_BACKEND']} but this environment has {HERE}"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`@pytest.mark.backend("boson")`: a test about one backend, skipped where it is not installed."""
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is not None and marker.args[0] not in HERE:
            item.add_marker(
                pytest.mark.skip(reason=f"about the {marker.args[0]} backend, not installed here")
            )


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Skip collecting test modules written for a backend this environment does not have."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if any(name in collection_path.parts and name not in HERE for name in ("native", "higgs3")):
        return True
    text = collection_path.read_text(encoding="utf-8")
    if any(name not in HERE and pattern.search(text) for name, pattern in BACKEND_IMPORTS.items()):
        return True
    return None


@pytest.fixture(scope="session", autouse=True)
def kit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private HIGGS_LORA_HOME (where the tiny model is materialised) for the whole session."""
    home = tmp_path_factory.mktemp("higgs-lora-home")
    os.environ["HIGGS_LORA_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def audio_tokenizer():
    """The installed backend's tiny audio tokenizer."""
    from higgs_lora.backends import default, get

    return get(default()).tiny_audio_tokenizer()


@pytest.fixture(scope="session")
def text_tokenizer():
    from higgs_lora.backends.tiny import build_tiny_text_tokenizer

    return build_tiny_text_tokenizer()


@pytest.fixture(scope="session")
def codes_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One codes cache shared by the end-to-end tests, so the smoke clips are encoded once."""
    return tmp_path_factory.mktemp("codes-cache")


@pytest.fixture
def cross_dir(tmp_path: Path) -> Path:
    """Where one environment's suite leaves a fixture for the other's: CI's shared folder
    (`HIGGS_LORA_CROSS_DIR`), else the test's own folder (the other environment's half then skips)."""
    shared = os.environ.get("HIGGS_LORA_CROSS_DIR")
    folder = Path(shared) if shared else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
