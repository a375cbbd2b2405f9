"""A Hugging Face hub cache laid out as huggingface_hub lays it out, for offline tests of revisions.

`$HF_HOME/hub/models--org--name/{refs/main, snapshots/<sha>/...}`: for both official repos `main`
points to a transformers-native snapshot (as on the hub since 2026-04-04) and the pinned revision to a
boson-layout one holding the tiny model / tiny audio tokenizer; `bosonai/hubert_base` holds the tiny
HuBERT the audio tokenizer builds itself around.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, BASE_ID, PINNED_REVISIONS

NATIVE_SHA = "f" * 40
HUBERT_SHA = "e" * 40


def make_hub_cache(home: Path, base_id: str = BASE_ID) -> Path:
    """Build the cache under `home` (use it as HF_HOME) and return `home`; the model under `base_id` (the
    current id by default; a former one for a cache downloaded before the rename)."""
    import torch

    from higgs_lora.backends.boson import tiny
    from higgs_lora.backends.tiny import TINY_AUDIO_TOKENIZER_CONFIG, tiny_hubert_config

    model_repo = _repo(home, base_id)
    shutil.copytree(tiny.tiny_model_dir(), _snapshot(model_repo, PINNED_REVISIONS[BASE_ID]))
    native = _snapshot(model_repo, NATIVE_SHA)
    native.mkdir(parents=True)
    _write_json(native / "config.json", {
        "model_type": "higgs_audio_v2",
        "architectures": ["HiggsAudioV2ForConditionalGeneration"],
        "hidden_size": 64, "num_hidden_layers": 2, "codebook_size": 1026, "num_codebooks": 4,
        "transformers_version": "5.3.0",
    })  # fmt: skip
    _point_main(model_repo, NATIVE_SHA)

    tokenizer_repo = _repo(home, AUDIO_TOKENIZER_ID)
    boson = _snapshot(tokenizer_repo, PINNED_REVISIONS[AUDIO_TOKENIZER_ID])
    boson.mkdir(parents=True)
    _write_json(boson / "config.json", TINY_AUDIO_TOKENIZER_CONFIG)
    torch.save(tiny.build_tiny_audio_tokenizer().state_dict(), boson / "model.pth")
    native = _snapshot(tokenizer_repo, NATIVE_SHA)
    native.mkdir(parents=True)
    _write_json(native / "config.json", {"model_type": "higgs_audio_v2_tokenizer", "sample_rate": 24000})
    (native / "model.safetensors").write_bytes(b"")
    _point_main(tokenizer_repo, NATIVE_SHA)

    from transformers import HubertModel

    hubert_repo = _repo(home, "bosonai/hubert_base")
    HubertModel(tiny_hubert_config()).save_pretrained(_snapshot(hubert_repo, HUBERT_SHA))
    _point_main(hubert_repo, HUBERT_SHA)
    return home


def add_snapshot(
    home: Path, repo_id: str, sha: str, files: dict[str, bytes | dict], main: bool = True
) -> Path:
    """One snapshot of `repo_id` in the cache under `home` (a JSON file for a dict), `main` pointing at it
    unless `main=False`; returns the snapshot folder. Needs no backend."""
    snapshot = _snapshot(_repo(home, repo_id), sha)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, dict):
            _write_json(snapshot / name, content)
        else:
            (snapshot / name).write_bytes(content)
    if main:
        _point_main(_repo(home, repo_id), sha)
    return snapshot


def point_hub_cache(monkeypatch, home: Path) -> None:
    """Make huggingface_hub and transformers in this process read the cache under `home` (HF_HOME is read
    once, at import; transformers 4.46 keeps its own copy of the path)."""
    from huggingface_hub import constants
    from transformers.utils import hub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    if hasattr(hub, "TRANSFORMERS_CACHE"):
        monkeypatch.setattr(hub, "TRANSFORMERS_CACHE", str(home / "hub"))


def _repo(home: Path, repo_id: str) -> Path:
    return home / "hub" / f"models--{repo_id.replace('/', '--')}"


def _snapshot(repo: Path, sha: str) -> Path:
    return repo / "snapshots" / sha


def _point_main(repo: Path, sha: str) -> None:
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(sha)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
