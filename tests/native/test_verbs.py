"""Every verb on the native backend, through the command as users run it: the smoke recipe on the tiny
native model (`[model] backend` left at auto: this environment has only transformers' Higgs v2)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import soundfile
import torch
from transformers import HiggsAudioV2ForConditionalGeneration

import higgs_lora
from higgs_lora.conversion.adapters import adapter_layout
from higgs_lora.model.load import load_text_tokenizer
from tests.helpers import run_cli, smoke_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("native-verbs")
    recipe = smoke_recipe(folder, folder / "codes", train="max_steps = 12\nsave_steps = 6", name="voice")
    assert run_cli("prepare", str(recipe)).returncode == 0
    result = run_cli("train", str(recipe))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Finished voice: 12 steps" in result.stdout
    return folder / "adapters" / "voice"


def test_train_records_the_backend_and_the_loss_falls(trained: Path) -> None:
    recorded = tomllib.loads((trained / "recipe.toml").read_text())
    assert recorded["model"]["backend"] == "native"  # auto, decided once and kept with the adapter
    assert adapter_layout(trained) == "native"
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["final_loss"] < metrics["first_loss"] - 1.0  # 12 steps of batch 1: 18.9 → 17.1
    config = json.loads((trained / "adapter_config.json").read_text())
    assert all(
        name.startswith(("model.layers", "audio_lm_head", "text_lm_head")) for name in _targets(trained)
    )
    assert config["task_type"] == "CAUSAL_LM"


def test_plan_speak_merge_and_the_merged_checkpoint(trained: Path, tmp_path: Path) -> None:
    planned = run_cli("plan", str(trained / "recipe.toml"))
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "GiB" in planned.stdout

    for quantization in ("nf4", "none"):
        out = tmp_path / f"{quantization}.wav"
        spoken = run_cli("speak", "--adapter", str(trained), "--text", "Hi there.", "--out", str(out),
                         "--max-seconds", "0.5", "--seed", "1", "--quantization", quantization)  # fmt: skip
        assert spoken.returncode == 0, spoken.stderr[-3000:]
        assert soundfile.info(str(out)).samplerate == 16000

    merged = run_cli("merge", str(trained), "--dtype", "fp32")
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert "merge check (fp32): the merged weights keep 100.0% of the adapter's effect" in merged.stdout
    folder = trained / "merged"
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["HiggsAudioV2ForConditionalGeneration"]
    model, info = HiggsAudioV2ForConditionalGeneration.from_pretrained(
        str(folder), use_text_head=True, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"]
    # the merged checkpoint, loaded by transformers alone, equals the adapter applied by PEFT
    backend = higgs_lora.backends.get("native")
    tokenizer = load_text_tokenizer(higgs_lora.adapter_setup(trained).model)
    probe = backend.probe_batch(model.config, tokenizer, "cpu")
    adapted = higgs_lora.load_adapter(trained, quantization="none", dtype=torch.float32).eval()
    plain = backend.load_base_model(str(folder), None, dtype=torch.float32).eval()
    with torch.no_grad():
        expected, got = adapted(**probe), plain(**probe)
    torch.testing.assert_close(got.audio_logits, expected.audio_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got.logits, expected.logits, rtol=1e-4, atol=1e-4)

    out = tmp_path / "merged.wav"
    spoken = run_cli(
        "speak", "--model", str(folder), "--text", "Hi.", "--out", str(out), "--max-seconds", "0.5"
    )
    assert spoken.returncode == 0, spoken.stderr[-3000:]

    boson = run_cli(
        "merge", str(trained), "--dtype", "fp32", "--layout", "boson", "--out", str(tmp_path / "b")
    )
    assert boson.returncode == 0, boson.stderr[-3000:]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model_type"] == "higgs_audio"


def test_export_import_list_and_convert(trained: Path, tmp_path: Path) -> None:
    package = tmp_path / "voice.zip"
    assert run_cli("export", str(trained), "--out", str(package)).returncode == 0
    imported = run_cli("import", str(package), "--name", "again", "--adapters-dir", str(tmp_path / "a"))
    assert imported.returncode == 0, imported.stderr[-3000:]
    listed = run_cli("adapters", "--adapters-dir", str(tmp_path / "a"))
    assert listed.returncode == 0 and "again" in listed.stdout

    converted = run_cli("convert", str(trained), "--to", "boson", "--out", str(tmp_path / "as-boson"))
    assert converted.returncode == 0, converted.stderr[-3000:]
    assert adapter_layout(tmp_path / "as-boson") == "boson"
    # a boson adapter here: refused with the way back, nothing loaded
    refused = run_cli("speak", "--adapter", str(tmp_path / "as-boson"), "--text", "Hi.",
                      "--out", str(tmp_path / "x.wav"))  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--to native" in refused.stderr and not (tmp_path / "x.wav").exists()


def _targets(adapter: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        return sorted({key.removeprefix("base_model.model.").split(".lora_")[0] for key in weights.keys()})  # noqa: SIM118


def test_eval_scores_the_adapter_against_the_base(trained: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello there.\n")
    result = run_cli(
        "eval", str(trained), "--texts", str(texts), "--asr", "tiny-random", "--max-seconds", "1"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((trained / "eval" / "eval.json").read_text())
    assert [system["system"] for system in report["systems"]] == ["adapter", "base"]
