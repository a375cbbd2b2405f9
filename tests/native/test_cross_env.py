"""Weights and adapters cross between the boson and the native environment (native's half).

Reads the fixture the boson suite wrote (tests/cross/test_boson_side.py): its tiny model and adapters,
converted to the native layout, give the boson outputs in `HiggsAudioV2ForConditionalGeneration`.
Then writes a native model and adapter with their outputs on the same probe, which the boson
environment converts back and checks last (`.ci/run`). fp32; equal to 1e-5.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import HiggsAudioV2ForConditionalGeneration

from benchmarks.native_equivalence import TOLERANCE, check
from tests.cross import written_by_the_other_suite


def test_from_boson_model_and_adapters_convert_to_native_with_equal_outputs(cross_dir: Path) -> None:
    results = check(written_by_the_other_suite(cross_dir / "boson"))
    for name in ("none", "regex", "list"):
        assert results[name]["max_abs_text_logit_diff"] <= TOLERANCE, (name, results[name])
        assert results[name]["max_abs_audio_logit_diff"] <= TOLERANCE, (name, results[name])
    assert results["regex"]["adapter_changes_audio_by"] > 0.1  # the adapter was there to compare


def test_native_fixture_for_the_boson_suite(cross_dir: Path) -> None:
    """A native model (new random weights in the converted tiny architecture) and a native adapter
    trained nowhere but with every LoRA matrix random, and their outputs on the boson probe."""
    boson = written_by_the_other_suite(cross_dir / "boson")
    folder = cross_dir / "native"
    shutil.rmtree(folder, ignore_errors=True)
    source = boson / "native-model"  # written by the test above: the boson tiny model, converted
    with torch.random.fork_rng():
        torch.manual_seed(11)
        model = HiggsAudioV2ForConditionalGeneration.from_pretrained(str(source), use_text_head=True)
        for parameter in model.parameters():
            torch.nn.init.normal_(parameter, std=0.05)
        model.save_pretrained(str(folder / "native-model"))
        targets = r"model\.layers\.\d+\.(?:self_attn\.(?:q|v)_proj|audio_mlp\.down_proj)|audio_lm_head"
        config = LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False)
        adapted = get_peft_model(model.eval(), config)
        adapted.save_pretrained(str(folder / "adapter"))
    reloaded = HiggsAudioV2ForConditionalGeneration.from_pretrained(
        str(folder / "native-model"), use_text_head=True, dtype=torch.float32
    ).eval()
    adapted = PeftModel.from_pretrained(reloaded, str(folder / "adapter")).eval()
    probe = load_file(str(boson / "probe.safetensors"))
    inputs = {k.removeprefix("in."): v for k, v in probe.items() if k.startswith("in.")}
    with torch.no_grad():
        core = adapted.get_base_model()
        text = core.text_lm_head(core.model(**inputs).last_hidden_state)
        audio = adapted(**inputs).logits
    plain = HiggsAudioV2ForConditionalGeneration.from_pretrained(
        str(folder / "native-model"), use_text_head=True, dtype=torch.float32
    ).eval()
    with torch.no_grad():
        assert (plain(**inputs).logits - audio).abs().max() > 0.1  # the adapter moves the outputs
    tensors = {k: v for k, v in probe.items() if k.startswith(("in.", "mask."))}
    save_file(
        {**tensors, "text_logits": text.float().contiguous(), "audio_logits": audio.float().contiguous()},
        str(folder / "outputs.safetensors"),
    )
    (folder / "done").write_text("ok\n")
