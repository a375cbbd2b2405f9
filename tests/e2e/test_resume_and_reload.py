"""Interrupt a run, resume it from its checkpoint, and reload the adapter with the kit's loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

import higgs_lora
from higgs_lora import HiggsLoraError, OutputExistsError
from higgs_lora.model import load_text_tokenizer
from tests.helpers import smoke_recipe, synthetic_batch

pytestmark = pytest.mark.slow


class Crash(RuntimeError):
    pass


class CrashAtStep(TrainerCallback):
    """Simulates a machine dying right after the given step (its checkpoint, if any, is written)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"simulated crash after step {self.step}")


def test_resume_continues_from_the_checkpoint_step(tmp_path: Path, codes_cache_dir: Path) -> None:
    recipe = smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 6\nsave_steps = 3")
    adapter = tmp_path / "adapters" / "t"
    with pytest.raises(HiggsLoraError, match="no checkpoint in .* to continue from"):
        higgs_lora.train(recipe, resume=True, progress=False)

    with pytest.raises(Crash):
        higgs_lora.train(recipe, callbacks=[CrashAtStep(4)], progress=False)
    assert (adapter / "checkpoints" / "checkpoint-3").is_dir()
    assert not (adapter / "adapter_model.safetensors").exists()

    with pytest.raises(OutputExistsError, match="unfinished run .*checkpoint-3.* Pass --resume"):
        higgs_lora.train(recipe, progress=False)

    result = higgs_lora.train(recipe, resume=True, progress=False)
    assert result.metrics["resumed_from_step"] == 3
    assert result.metrics["steps"] == 6
    assert [step for step, _ in result.metrics["loss_history"]] == [1, 2, 3, 4, 5, 6]
    assert (adapter / "adapter_model.safetensors").is_file()

    # The kit's loader (4-bit base + shim under PEFT) reproduces the trained model's outputs.
    tokenizer = load_text_tokenizer(higgs_lora.load_recipe(recipe).model)
    batch, _ = synthetic_batch(tmp_path / "probe", tokenizer)
    batch.pop("label_audio_ids")
    trained = result.model.eval()
    reloaded = higgs_lora.load_adapter(adapter, quantization="nf4").eval()
    with torch.no_grad():
        expected = trained(**batch)
        got = reloaded(**batch)
        with reloaded.disable_adapter():
            base_only = reloaded(**batch)
    torch.testing.assert_close(got.audio_logits, expected.audio_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got.logits, expected.logits, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(base_only.audio_logits, expected.audio_logits, atol=1e-3), "the adapter matters"
