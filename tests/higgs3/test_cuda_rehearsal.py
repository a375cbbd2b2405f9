"""The CUDA configuration rehearsed on CPU for Higgs TTS 3 (HIGGS_NOTES §14; the v2 version is
tests/e2e/test_cuda_rehearsal.py): bf16 compute dtype on the 4-bit NF4 body with the Trainer's mixed
precision set up exactly as on a GPU (autocast around the forward only, not the loss), two loader
workers, an eval split, listening while training, an interrupted run resumed, a merge and speech in bf16. The recipes ship bf16, so this is the path a GPU run takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile
import torch

import higgs_lora
from tests.e2e.test_resume_and_reload import Crash, CrashAtStep
from tests.helpers import smoke_recipe

pytestmark = [pytest.mark.backend("higgs3"), pytest.mark.slow]


def _recipe(folder: Path, codes: Path) -> Path:
    recipe = smoke_recipe(
        folder,
        codes,
        model='backend = "higgs3"\ncompute_dtype = "bfloat16"',
        train="max_steps = 12\nsave_steps = 6\neval_steps = 6\nloader_workers = 2",
        name="rehearsal",
        extra='[samples]\ntexts = ["Hello."]\nevery_steps = 6\nmax_seconds = 0.3\nseed = 1',
    )
    text = recipe.read_text(encoding="utf-8").replace("eval_fraction = 0.0", "eval_fraction = 0.2")
    text = text.replace('["attention", "audio_ffn", "heads"]', '["attention", "mlp"]')
    recipe.write_text(text.replace("learning_rate = 3e-3", "learning_rate = 1e-2"), "utf-8")
    return recipe


def test_train_resume_merge_speak_in_bf16(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path / "resumed", tmp_path / "codes")
    adapter = tmp_path / "resumed" / "adapters" / "rehearsal"
    with pytest.raises(Crash):
        higgs_lora.train(recipe, callbacks=[CrashAtStep(8)], progress=False)
    metrics = higgs_lora.train(recipe, resume=True, progress=False).metrics
    assert metrics["resumed_from_step"] == 6 and metrics["steps"] == 12
    assert (metrics["compute_dtype"], metrics["mixed_precision"]) == ("bfloat16", "bf16")
    assert metrics["dataloader_workers"] == 2
    assert metrics["eval_loss"] is not None and len(metrics["eval_history"]) >= 2
    for step in (6, 12):  # listening while training, in bf16
        assert soundfile.info(str(adapter / "samples" / f"step-{step}" / "00.wav")).frames > 0
    losses = dict(metrics["loss_history"])
    assert all(loss == loss for loss in losses.values()), "finite losses"
    assert metrics["final_loss"] < metrics["first_loss"] - 2.0  # 12 steps of batch 1: 14.1 → ~9.6
    # The resumed run continues where the uninterrupted one would be: same data order, optimizer, RNG.
    straight = higgs_lora.train(_recipe(tmp_path / "straight", tmp_path / "codes"), progress=False)
    expected = dict(straight.metrics["loss_history"])
    assert [losses[s] for s in range(7, 13)] == pytest.approx([expected[s] for s in range(7, 13)], rel=1e-3)

    merged = higgs_lora.merge(adapter, dtype="bf16", device="cpu")
    assert merged.kept >= 0.9  # bf16 rounding of a tiny, large-lr adapter
    folder = adapter / "merged"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "higgs_multimodal_qwen3"
    from higgs_lora.backends import get

    plain = get("higgs3").load_base_model(str(folder), None, dtype=torch.bfloat16)
    tables = [n for n, _ in plain.named_parameters() if "modality" in n]
    assert tables == ["tied.embedding.modality_embeddings.0.embedding.weight"], "still one tied table"
    del plain

    for quantization in ("nf4", "none"):
        speech = higgs_lora.speak(
            "Hi.", adapter=adapter, quantization=quantization, compute_dtype="bfloat16",
            max_seconds=0.3, seed=2,
        )  # fmt: skip
        assert speech.audio.size > 0 and speech.audio.dtype.name == "float32"
    speech = higgs_lora.speak("Hi.", model=folder, compute_dtype="bfloat16", max_seconds=0.3, seed=2)
    assert speech.audio.size > 0
