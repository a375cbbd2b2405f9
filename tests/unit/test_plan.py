"""`plan`: weights counted to the byte against loaded models; the real recipes' verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from higgs_lora import load_recipe
from higgs_lora.backends.boson import BACKEND
from higgs_lora.core.schema import ModelConfig
from higgs_lora.model import load_base_model
from higgs_lora.planning.sizes import (
    GIB,
    loaded_weight_bytes,
    meta_model,
    parse_bytes,
    predicted_weight_bytes,
)
from higgs_lora.planning.training import plan

REPO = Path(__file__).resolve().parents[2]


def predicted_for(base: str, quantization: str, double_quant: bool, dtype_bytes: int = 4) -> int:
    from higgs_lora.planning.sizes import architecture

    meta = meta_model(architecture(ModelConfig(base=base)))
    return predicted_weight_bytes(
        meta, quantization, double_quant, dtype_bytes, BACKEND.full_precision_modules
    )


@pytest.mark.parametrize(
    ("quantization", "double_quant"), [("nf4", True), ("nf4", False), ("fp4", True), ("none", False)]
)
def test_weight_bytes_match_a_loaded_tiny_model_exactly(quantization: str, double_quant: bool) -> None:
    config = ModelConfig(base="tiny-random", quantization=quantization, double_quant=double_quant)
    loaded = loaded_weight_bytes(load_base_model(config))
    assert predicted_for("tiny-random", quantization, double_quant) == loaded


@pytest.mark.slow
def test_weight_bytes_match_a_loaded_mid_size_model_exactly(tmp_path: Path) -> None:
    """Hidden 512, 4 layers, the real vocabulary and 8 codebooks: what the CPU benchmarks use."""
    import torch
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    from benchmarks.proxy import mid_size_config

    folder = tmp_path / "mid"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        HiggsAudioModel(mid_size_config()).to(torch.bfloat16).save_pretrained(folder)
    for quantization, double_quant in (("nf4", True), ("none", False)):
        config = ModelConfig(base=str(folder), quantization=quantization, double_quant=double_quant)
        loaded = loaded_weight_bytes(load_base_model(config))
        assert predicted_for(str(folder), quantization, double_quant) == loaded


def test_the_12gb_recipe_fits_12gb_for_the_real_model() -> None:
    result = plan(load_recipe(REPO / "recipes" / "single-speaker-12gb.toml"), "12GB")
    assert result.fits
    assert 3.5 * GIB < result.weights < 4.5 * GIB  # ~5.8B parameters, decoder in NF4
    assert result.total < 8 * GIB
    assert "fits in 12.0 GiB" in result.report()


def test_voice_clone_20s_plus_10s_reference_at_batch_1() -> None:
    recipe = load_recipe(REPO / "recipes" / "voice-clone-24gb.toml", {"lora.r": 16, "data.max_seconds": 20.0})
    result = plan(recipe, "8GB", ref_seconds=10)
    assert result.tokens == 936  # 20 s + 10 s at 25 frames/s, delay pattern, transcript, padding
    assert result.fits and result.total <= 6 * GIB  # the aim: an 8 GB card can train it


def test_a_recipe_that_does_not_fit_gets_suggestions() -> None:
    recipe = load_recipe(
        REPO / "recipes" / "single-speaker-24gb.toml",
        {"train.gradient_checkpointing": False, "model.quantization": "none"},
    )
    result = plan(recipe, "12GB")
    assert result.fits is False
    assert result.recompute == 0 and result.step_peak > 2 * result.checkpointed_step_peak
    text = "\n".join(result.suggestions)
    assert "gradient_checkpointing = true (saves ~" in text
    assert "batch_size to 1 and raise grad_accumulation to 16" in text
    assert "max_seconds to about" in text and 'quantization = "nf4"' in text
    assert "does NOT fit in 12.0 GiB" in result.report()


def test_parse_bytes() -> None:
    assert parse_bytes("12GB") == 12 * GIB
    assert parse_bytes("8 GiB") == 8 * GIB
    assert parse_bytes("512MB") == 512 * 2**20
    with pytest.raises(ValueError, match="cannot read a memory size"):
        parse_bytes("lots")


@pytest.mark.parametrize("checkpointing", [True, False], ids=["checkpointing", "no-checkpointing"])
def test_plan_predicts_the_memory_a_training_step_allocates(tmp_path: Path, checkpointing: bool) -> None:
    """Activations, logits, loss buffers and LoRA gradients against the live tensor bytes of a real
    step (profiled: forward, loss, backward, optimizer) of a 20 s target after a 10 s reference."""
    from benchmarks.plan_check import Case, measure

    measured, predicted = measure(Case(20.0, 10.0, checkpointing=checkpointing), "tiny-random", tmp_path)
    assert 0.9 <= predicted / measured <= 1.4, (measured, predicted)


def test_plan_predicts_every_verb_and_what_the_kit_will_choose_on_a_12gb_card() -> None:
    from higgs_lora.planning.inference import plan_verbs

    recipe = load_recipe(REPO / "recipes" / "single-speaker-12gb.toml")
    full, nf4, merge_gpu, merge_cpu = plan_verbs(recipe, parse_bytes("12GB"))
    assert not full.fits and nf4.fits
    assert "speak picks --quantization nf4 on this card by itself (fits)" in full.report()
    assert 10 * GIB < full.live < 14 * GIB < full.total  # bf16 weights 10.75 GiB + KV caches + tokenizer
    kv = dict(nf4.parts)["static KV caches (1024 + 4096 positions)"]
    assert 1.0 * GIB < kv < 1.2 * GIB  # 56 KV layers x 8 heads x 128 x 5120 positions, bf16
    assert not merge_gpu.fits and "merge runs on CPU by itself" in merge_gpu.report()
    assert merge_cpu.device == "CPU" and merge_cpu.total == merge_cpu.live  # RAM: no CUDA context
    _, nf4_8gb, _, _ = plan_verbs(recipe, parse_bytes("8GB"))
    assert nf4_8gb.fits


def test_listening_while_training_is_counted_in_the_training_plan() -> None:
    recipe = load_recipe(REPO / "recipes" / "single-speaker-12gb.toml")
    quiet = plan(recipe, "12GB")
    listening = plan(recipe.model_copy(update={"samples": recipe.samples.model_copy(update={
        "texts": ["Hello."], "every_steps": 100})}), "12GB")  # fmt: skip
    assert listening.listening_resident > GIB  # KV caches + the audio tokenizer stay resident
    assert listening.total > quiet.total + listening.listening_resident
    assert "speaking ([samples]/[eval]: KV caches, audio tokenizer)" in listening.report()
    judging = plan(
        recipe.model_copy(update={"eval": recipe.eval.model_copy(update={"every_steps": 100})}), "12GB"
    )
    assert judging.listening_resident == listening.listening_resident, (
        "[eval] speaks through the same Speaker"
    )
    # whisper-large-v3-turbo in fp16 + the WavLM x-vector model that [eval] speaker_model = "auto" prefers
    assert 1.8 * GIB < judging.judging_resident < 1.9 * GIB
    assert "[eval] scoring (Whisper, speaker encoder)" in judging.report()


def test_the_frame_rate_comes_from_the_audio_tokenizer_not_its_name(tmp_path: Path) -> None:
    import json

    from higgs_lora.backends.tiny import TINY_AUDIO_TOKENIZER_CONFIG
    from higgs_lora.planning.inference import audio_tokenizer_facts

    assert audio_tokenizer_facts(ModelConfig(audio_tokenizer="tiny-random"))[0] == 50.0  # 16 kHz / 320
    folder = tmp_path / "my-codec"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**TINY_AUDIO_TOKENIZER_CONFIG, "ratios": [8, 5, 4, 4]}))
    assert audio_tokenizer_facts(ModelConfig(audio_tokenizer=str(folder)))[0] == 25.0  # 16 kHz / 640


def test_plan_predicts_what_speaking_allocates(tmp_path: Path) -> None:
    """Audio tokenizer, KV caches, reference encoding, the prompt's forward, sampling and decoding,
    against the live tensor bytes of a real `speak` (profiled) with a 10 s reference."""
    from benchmarks.plan_check import measure_speech

    measured, predicted = measure_speech("tiny-random", tmp_path, seconds=1.0)
    assert 0.8 <= predicted / measured <= 1.4, (measured, predicted)


def test_plan_predicts_what_merging_on_cpu_allocates(tmp_path: Path) -> None:
    """The whole verb (load, probe adapted and base, merge in place, probe, save) against its profiled peak."""
    from benchmarks.plan_check import measure_merge

    measured, predicted = measure_merge(tmp_path)
    assert 0.9 <= predicted / measured <= 1.4, (measured, predicted)
