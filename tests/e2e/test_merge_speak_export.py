"""After training: merge (checked numerically), speak, export/import, listing, listen-while-training, on
whichever backend this environment has."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import load_file, save_file

import higgs_lora
from higgs_lora import ChecksumError, HiggsLoraError, MergeMismatchError, ModelError, OutputExistsError
from higgs_lora.backends.tiny import build_tiny_text_tokenizer
from tests.helpers import installed_backend, smoke_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, codes_cache_dir: Path) -> Path:
    """A few real training steps on the tiny model, with listening on: enough to move the LoRA weights."""
    folder = tmp_path_factory.mktemp("trained")
    recipe = smoke_recipe(
        folder,
        codes_cache_dir,
        train="max_steps = 4\nsave_steps = 100",
        extra='\n[samples]\ntexts = ["Hello there.", "Second one."]\nevery_steps = 2\nmax_seconds = 0.4\nseed = 5',
        name="trained",
    )
    return higgs_lora.train(recipe, progress=False).adapter_dir


def reloaded(model_dir: Path) -> torch.nn.Module:
    """A checkpoint folder loaded from disk by the backend's model class (its labels shim subclass)."""
    backend = installed_backend()
    return backend.load_base_model(str(model_dir), None, torch_dtype=torch.float32).eval()


def test_listen_while_training_writes_wavs_per_interval(adapter: Path) -> None:
    for step in (2, 4):
        for index in (0, 1):
            wav = adapter / "samples" / f"step-{step}" / f"{index:02d}.wav"
            info = soundfile.info(str(wav))
            assert info.samplerate == 16000 and info.frames > 0
    assert any("tfevents" in p.name for p in (adapter / "logs").iterdir())


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_merged_outputs_equal_adapted_outputs(adapter: Path, dtype: str, tmp_path: Path) -> None:
    result = higgs_lora.merge(adapter, out=tmp_path / "merged", dtype=dtype)
    assert result.kept >= 0.9 and result.kept_text >= 0.9
    record = json.loads((tmp_path / "merged" / "higgs_lora_merge.json").read_text())
    assert record["dtype"] == dtype and record["kept"] == result.kept
    assert record["audio_tokenizer"] == "tiny-random"
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    backend = installed_backend()
    assert config["architectures"] == [backend.model_class().__name__]
    if dtype == "fp32":  # reloaded from disk, against the kit's adapter loader
        merged = reloaded(tmp_path / "merged")
        probe = backend.probe_batch(merged.config, build_tiny_text_tokenizer(), "cpu")
        adapted = higgs_lora.load_adapter(adapter).eval()
        with torch.no_grad():
            expected, got = adapted(**probe).audio_logits, merged(**probe).audio_logits
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_speak_with_adapter_and_merged_model_is_seeded(adapter: Path, tmp_path: Path) -> None:
    merged = higgs_lora.merge(adapter, out=tmp_path / "merged", dtype="fp32").out
    for source in ({"adapter": adapter}, {"model": merged}):
        first = higgs_lora.speak(
            "Hello there.", **source, out=tmp_path / "a.wav", seed=7, max_seconds=0.5, force=True
        )
        again = higgs_lora.speak("Hello there.", **source, seed=7, max_seconds=0.5)
        samples, rate = soundfile.read(str(tmp_path / "a.wav"))
        assert rate == 16000 and samples.size == first.audio.size > 0
        assert np.array_equal(first.audio, again.audio)


def test_speak_cli_writes_a_wav_and_refuses_bad_input(adapter: Path, tmp_path: Path) -> None:
    from higgs_lora.cli import main

    out = tmp_path / "cli.wav"
    args = [
        "speak",
        "--text",
        "Hi.",
        "--adapter",
        str(adapter),
        "--out",
        str(out),
        "--seed",
        "1",
        "--max-seconds",
        "0.4",
    ]
    assert main(args) == 0 and soundfile.info(str(out)).samplerate == 16000
    assert main(args) == 2  # exists, no --force
    with pytest.raises(HiggsLoraError, match="needs both the audio"):
        higgs_lora.speak("Hi.", adapter=adapter, ref_audio=out, max_seconds=0.4)
    with pytest.raises(HiggsLoraError, match="exactly one of --adapter"):
        higgs_lora.speak("Hi.", adapter=adapter, model=tmp_path)


def test_export_round_trips_through_stock_peft(adapter: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    package = higgs_lora.export(adapter, tmp_path / "pkg" / "voice.zip")
    names = zipfile.ZipFile(package).namelist()
    assert "voice/SHA256SUMS" not in names and "trained/SHA256SUMS" in names
    assert {"trained/adapter_model.safetensors", "trained/README.md", "trained/recipe.toml"} <= set(names)
    installed = higgs_lora.import_adapter(package, adapters_root=tmp_path / "adapters")
    assert installed == tmp_path / "adapters" / "voice"
    backend = installed_backend()
    text_head = {"use_text_head": True} if backend.name == "native" else {}  # the native class's option
    base = backend.model_class().from_pretrained(backend.tiny_model_dir(), **text_head)
    model = PeftModel.from_pretrained(base, str(installed))
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    state = model.state_dict()
    for key, tensor in saved.items():
        assert torch.equal(state[key.replace(".weight", ".default.weight")], tensor)
    folder = higgs_lora.export(adapter, tmp_path / "as-folder")
    higgs_lora.verify_checksums(folder)


def test_corrupted_package_is_refused(adapter: Path, tmp_path: Path) -> None:
    package = higgs_lora.export(adapter, tmp_path / "voice.zip")
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("adapter_model.safetensors"):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            target.writestr(item, data)
    with pytest.raises(ChecksumError, match=r"adapter_model\.safetensors: SHA-256 does not match SHA256SUMS"):
        higgs_lora.import_adapter(tampered, adapters_root=tmp_path / "adapters")
    assert not (tmp_path / "adapters" / "tampered").exists()

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("x/../../escape.txt", "boo")
    with pytest.raises(ChecksumError, match="unexpected member"):
        higgs_lora.import_adapter(evil, adapters_root=tmp_path / "adapters")

    folder = higgs_lora.export(adapter, tmp_path / "folder-pkg")
    (folder / "extra.bin").write_bytes(b"\x00")
    with pytest.raises(ChecksumError, match="extra.bin: not listed"):
        higgs_lora.verify_checksums(folder)


def test_adapters_listing(adapter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from higgs_lora.cli import main

    assert main(["adapters", "--adapters-dir", str(adapter.parent)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "base", "rank", "targets", "steps", "final", "loss", "size"]
    assert table[1].split()[:3] == ["trained", "tiny-random", "8"] and " 4 " in table[1]
    assert main(["adapters", "trained", "--adapters-dir", str(adapter.parent)]) == 0
    assert "rank: 8" in capsys.readouterr().out


def test_merge_refuses_what_does_not_fit(adapter: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputExistsError, match="Pass --force"):
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "keep.txt").write_text("mine")
        higgs_lora.merge(adapter, out=tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"

    other_arch = tmp_path / "llama"
    other_arch.mkdir()
    (other_arch / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(
        ModelError, match="is a 'llama' model; Higgs Audio v2 checkpoints .* Give the Higgs base"
    ):
        higgs_lora.merge(adapter, out=tmp_path / "m1", base=str(other_arch))

    wider = tmp_path / "wider"
    config = json.loads((installed_backend().tiny_model_dir() / "config.json").read_text())
    config.get("text_config", config)["hidden_size"] = 128  # boson keeps it in text_config, native flat
    wider.mkdir()
    (wider / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ModelError, match=r"does not fit base .*\n  .*lora_A has shape \[8, 64\], base needs \[8, 128\]"
    ):
        higgs_lora.merge(adapter, out=tmp_path / "m2", base=str(wider))

    lying = tmp_path / "lying"
    shutil.copytree(adapter, lying, ignore=shutil.ignore_patterns("checkpoints", "logs", "samples", "merged"))
    config_file = lying / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "r": 16}))
    with pytest.raises(ModelError, match="has rank 8, but adapter_config.json says r=16"):
        higgs_lora.merge(lying, out=tmp_path / "m3")


def test_bf16_adapter_merges_into_fp16_base(adapter: Path, tmp_path: Path) -> None:
    bf16 = tmp_path / "bf16-adapter"
    shutil.copytree(adapter, bf16, ignore=shutil.ignore_patterns("checkpoints", "logs", "samples", "merged"))
    weights = load_file(str(bf16 / "adapter_model.safetensors"))
    save_file({k: v.to(torch.bfloat16) for k, v in weights.items()}, str(bf16 / "adapter_model.safetensors"))
    result = higgs_lora.merge(bf16, out=tmp_path / "fp16", dtype="fp16")
    assert result.kept >= 0.9
    weights = load_file(str(tmp_path / "fp16" / "model.safetensors"))
    embeddings = next(key for key in weights if key.endswith("embed_tokens.weight"))  # boson | native name
    assert weights[embeddings].dtype == torch.float16


def test_merge_that_keeps_too_little_writes_nothing(adapter: Path, tmp_path: Path) -> None:
    with pytest.raises(MergeMismatchError, match="keeps only .* Nothing was written. Use --dtype fp32"):
        higgs_lora.merge(adapter, out=tmp_path / "never", dtype="bf16", min_kept=1.0)
    assert not (tmp_path / "never").exists()
    assert not list(tmp_path.glob(".never*"))
