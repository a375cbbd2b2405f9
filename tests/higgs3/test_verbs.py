"""The kit's verbs on Higgs TTS 3, through the command as users run it: the smoke recipe with
`[model] backend = "higgs3"` on the tiny model, 4-bit NF4 (the recipe default)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import soundfile
import torch
from safetensors import safe_open

import higgs_lora
from tests.helpers import run_cli, smoke_recipe

pytestmark = [pytest.mark.backend("higgs3"), pytest.mark.slow]
LICENSE = "Boson Higgs TTS 3 Research and Non-Commercial License"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("higgs3-verbs")
    recipe = smoke_recipe(
        folder, folder / "codes", train="max_steps = 12", name="voice", model='backend = "higgs3"'
    )
    text = recipe.read_text(encoding="utf-8")
    text = text.replace('["attention", "audio_ffn", "heads"]', '["attention", "mlp"]')
    recipe.write_text(text.replace("learning_rate = 3e-3", "learning_rate = 1e-2"), "utf-8")
    assert run_cli("prepare", str(recipe)).returncode == 0
    result = run_cli("train", str(recipe))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Finished voice: 12 steps" in result.stdout
    assert result.stdout.count(LICENSE) == 2  # at the start and in the summary's notes
    return folder / "adapters" / "voice"


def test_train_records_the_backend_and_the_loss_falls(trained: Path) -> None:
    recorded = tomllib.loads((trained / "recipe.toml").read_text())
    assert recorded["model"]["backend"] == "higgs3"
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["final_loss"] < metrics["first_loss"] - 2.0  # 12 steps of batch 1: 14.1 → 9.6
    with safe_open(str(trained / "adapter_model.safetensors"), "pt") as weights:
        keys = list(weights.keys())
    assert keys and all(k.startswith("base_model.model.body.layers.") and ".lora_" in k for k in keys)
    assert not any("modality" in k or "tied." in k for k in keys)  # the tied table is never copied
    card = (trained / "README.md").read_text()
    assert "license: other" in card and "## License" in card and LICENSE in card
    assert "a LoRA adapter for Higgs TTS 3" in card


def test_speak_and_merge(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "hi.wav"
    spoken = run_cli("speak", "--adapter", str(trained), "--text", "Hi there.", "--out", str(out),
                     "--max-seconds", "0.5", "--seed", "1")  # fmt: skip
    assert spoken.returncode == 0, spoken.stderr[-3000:]
    assert soundfile.info(str(out)).samplerate == 16000

    merged = run_cli("merge", str(trained), "--dtype", "fp32")
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert "merge check (fp32): the merged weights keep 100.0% of the adapter's effect" in merged.stdout
    assert LICENSE in merged.stdout
    folder = trained / "merged"
    assert (
        LICENSE in (folder / "README.md").read_text()
        and "Merged Higgs TTS 3" in (folder / "README.md").read_text()
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "higgs_multimodal_qwen3"
    assert config["architectures"] == ["HiggsMultimodalQwen3ForConditionalGeneration"]
    from higgs_lora.backends import get
    from higgs_lora.model import load_text_tokenizer

    backend = get("higgs3")
    plain = backend.load_base_model(str(folder), None, dtype=torch.float32).eval()
    assert [n for n, _ in plain.named_parameters() if "modality" in n] == [
        "tied.embedding.modality_embeddings.0.embedding.weight"
    ]
    tokenizer = load_text_tokenizer(higgs_lora.adapter_setup(trained).model)
    probe = backend.probe_batch(plain.config, tokenizer, "cpu")
    adapted = higgs_lora.load_adapter(trained, quantization="none", dtype=torch.float32).eval()
    with torch.no_grad():
        expected, got = adapted(**probe), plain(**probe)
    torch.testing.assert_close(got.audio_logits, expected.audio_logits, rtol=1e-4, atol=1e-4)


def test_export_carries_the_license(trained: Path, tmp_path: Path) -> None:
    exported = run_cli("export", str(trained), "--out", str(tmp_path / "voice.zip"))
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert LICENSE in exported.stdout


def test_convert_refuses_a_higgs3_adapter(trained: Path, tmp_path: Path) -> None:
    converted = run_cli("convert", str(trained), "--to", "native", "--out", str(tmp_path / "c"))
    assert converted.returncode == 2 and "a Higgs TTS 3 adapter" in converted.stderr
