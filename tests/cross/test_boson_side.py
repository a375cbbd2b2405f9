"""Weights and adapters cross between the boson and the native environment (boson's half).

`.ci/run`: this suite writes a fixture (the tiny boson model, two LoRA adapters, a probe batch and
their outputs) that the native suite converts and checks (tests/native/test_cross_env.py); the native
suite writes its own (a native model and adapter and their outputs on the same probe), which this
file's `test_from_native...` converts to boson and checks last. fp32; equal to 1e-5.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from peft import PeftModel
from safetensors.torch import load_file

from benchmarks.native_equivalence import TOLERANCE, native_inputs, save
from higgs_lora.backends.boson.collate import probe_batch
from higgs_lora.backends.boson.shim import HiggsAudioForLoRA
from higgs_lora.backends.tiny import build_tiny_text_tokenizer
from higgs_lora.conversion.adapters import adapter_layout, convert_adapter
from higgs_lora.conversion.files import convert_checkpoint_folder
from tests.cross import written_by_the_other_suite


def test_boson_fixture_for_the_native_suite(cross_dir: Path) -> None:
    folder = cross_dir / "boson"
    save(folder)
    probe = load_file(str(folder / "probe.safetensors"))
    assert probe["regex.audio_logits"].shape == probe["none.audio_logits"].shape
    # the adapters change the outputs, so equal outputs on the other side mean the adapter came along
    assert (probe["regex.audio_logits"] - probe["none.audio_logits"]).abs().max() > 0.1
    (folder / "done").write_text("ok\n")


def test_from_native_model_and_adapter_convert_to_boson_with_equal_outputs(cross_dir: Path) -> None:
    fixture = written_by_the_other_suite(cross_dir / "native")
    work = cross_dir / "native-as-boson"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(fixture / "native-model", work / "model")
    convert_checkpoint_folder(work / "model", to="boson")
    adapter = convert_adapter(fixture / "adapter", to="boson", out=work / "adapter")
    assert adapter_layout(adapter) == "boson"

    base = HiggsAudioForLoRA.from_pretrained(str(work / "model"), torch_dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    expected = load_file(str(fixture / "outputs.safetensors"))
    probe = probe_batch(base.config, build_tiny_text_tokenizer(), "cpu")
    with torch.no_grad():
        out = model(**probe)
    # the probe regenerated here is the one the native side ran (same seed, tokenizer and mapping)
    for key, value in native_inputs(probe, out, base.config).items():
        assert torch.equal(value, expected[key]), key
    valid = expected["in.attention_mask"].bool()
    text_diff = (out.logits.float()[valid] - expected["text_logits"][valid]).abs().max()
    audio = expected["audio_logits"][expected["mask.audio_out"]].view_as(out.audio_logits)
    audio_diff = (out.audio_logits.float() - audio).abs().max()
    assert text_diff <= TOLERANCE and audio_diff <= TOLERANCE, (float(text_diff), float(audio_diff))
