"""The codes cache key names the codec that made the codes: a hub id by the commit its revision resolves to
(offline, from the local cache), a local folder by the content of its config and weight files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from higgs_lora.core.errors import ModelError
from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, PINNED_REVISIONS
from higgs_lora.core.schema import ModelConfig
from higgs_lora.data.cache import CodesCache
from higgs_lora.model.load import audio_tokenizer_fingerprint
from tests.hubcache import add_snapshot, point_hub_cache

CODEC = {"model_type": "higgs_audio_v2_tokenizer", "sample_rate": 24000}


@pytest.fixture
def use_hub_cache(monkeypatch: pytest.MonkeyPatch):
    """Point huggingface_hub (offline in tests) at the cache under a given HF_HOME."""
    return lambda home: point_hub_cache(monkeypatch, home)


def key(revision: str | None = None, name: str = AUDIO_TOKENIZER_ID) -> str:
    return audio_tokenizer_fingerprint(ModelConfig(audio_tokenizer=name, audio_tokenizer_revision=revision))


def test_two_caches_whose_main_points_at_different_commits_give_different_keys(
    use_hub_cache, tmp_path
) -> None:
    old, new = "a" * 40, "b" * 40
    for home, sha in ((tmp_path / "before", old), (tmp_path / "after", new)):
        add_snapshot(home, AUDIO_TOKENIZER_ID, sha, {"config.json": CODEC, "model.safetensors": sha.encode()})
    use_hub_cache(tmp_path / "before")
    before = key()
    assert before == key("main") == f"{AUDIO_TOKENIZER_ID}@{old}", "main resolved offline, from refs/main"
    use_hub_cache(tmp_path / "after")
    after = key()
    assert after == f"{AUDIO_TOKENIZER_ID}@{new}" != before
    assert CodesCache(tmp_path, before).folder != CodesCache(tmp_path, after).folder


def test_main_rewritten_in_one_cache_changes_the_key(use_hub_cache, tmp_path) -> None:
    """What happened on the hub: the same id, `main` moved to another codec."""
    home = tmp_path / "hf"
    use_hub_cache(home)
    add_snapshot(home, AUDIO_TOKENIZER_ID, "c" * 40, {"config.json": CODEC})
    first = key()
    add_snapshot(home, AUDIO_TOKENIZER_ID, "d" * 40, {"config.json": CODEC})  # the next download's main
    assert key() != first and key().endswith("d" * 40)
    assert key("c" * 40) == first, "an explicit commit is its own key, cached or not"


def test_a_commit_needs_no_cache_and_an_unknown_revision_is_refused(use_hub_cache, tmp_path) -> None:
    use_hub_cache(tmp_path / "empty")
    pin = PINNED_REVISIONS[AUDIO_TOKENIZER_ID]
    assert key(pin) == f"{AUDIO_TOKENIZER_ID}@{pin}"  # the key boson runs always had: their codes stay valid
    with pytest.raises(
        ModelError, match=r"audio_tokenizer = 'bosonai/higgs-audio-v2-tokenizer'.*config\.json"
    ):
        key()  # offline, nothing cached: no commit to name, so no key (never a guess)


def test_a_local_codec_is_keyed_by_every_weight_file(tmp_path: Path) -> None:
    folder = tmp_path / "codec"
    folder.mkdir()
    (folder / "config.json").write_text('{"sample_rate": 24000}')
    (folder / "model.safetensors").write_bytes(b"weights one")
    first = key(name=str(folder))
    (folder / "model.safetensors").write_bytes(b"weights two")  # same size, same second
    second = key(name=str(folder))
    assert second != first, "model.safetensors is part of the key"
    for extra in ("model.pth", "pytorch_model.bin", "semantic/model-00001-of-00002.safetensors"):
        (folder / extra).parent.mkdir(exist_ok=True)
        (folder / extra).write_bytes(b"more")
        assert key(name=str(folder)) != second, extra
        second = key(name=str(folder))
    (folder / "README.md").write_text("notes")  # neither weights nor settings
    (folder / ".cache").mkdir()
    (folder / ".cache" / "model.safetensors.metadata").write_text("huggingface_hub's download record")
    (folder / ".cache" / "x.bin").write_bytes(b"hidden")
    assert key(name=str(folder)) == second
    copy = tmp_path / "elsewhere" / "codec"
    shutil.copytree(folder, copy)
    assert key(name=str(copy)) == second, "the same files under the same name: the same codes"
    (folder / "config.json").write_text('{"sample_rate": 16000}')
    assert key(name=str(folder)) != second
