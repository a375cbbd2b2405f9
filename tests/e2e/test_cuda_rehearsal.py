"""The CUDA configuration, rehearsed on CPU (HIGGS_NOTES §14): a half-precision compute dtype with the
Trainer's mixed precision set up exactly as on a GPU (accelerate autocasts the model's forward and
converts its outputs to fp32; nothing autocasts the loss), two loader worker processes, an eval
split, listening while training, an interrupted run resumed, a merge and speech in that dtype.

What cannot be rehearsed on CPU (pinned memory, paged 8-bit optimizers, CUDA graphs, NCCL) is listed
in docs/gpu-sizing.md, "CPU and CUDA: what differs".
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import soundfile

import higgs_lora
from higgs_lora.core.errors import HiggsLoraError
from tests.e2e.test_resume_and_reload import Crash, CrashAtStep
from tests.helpers import run_cli, smoke_recipe

pytestmark = pytest.mark.slow
PROMPT = "Read this in the trained voice."


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_train_resume_merge_speak_in_cuda_mixed_precision(
    dtype: str, tmp_path: Path, codes_cache_dir
) -> None:
    recipe = smoke_recipe(
        tmp_path,
        codes_cache_dir,
        model=f'compute_dtype = "{dtype}"',
        extra=f'system_prompt = "{PROMPT}"\n\n[samples]\ntexts = ["Hello."]\nevery_steps = 2\n'
        "max_seconds = 0.3\nseed = 1",
        train="max_steps = 4\nsave_steps = 2\neval_steps = 2\nloader_workers = 2",
        name="rehearsal",
    )
    recipe.write_text(recipe.read_text().replace("eval_fraction = 0.0", "eval_fraction = 0.2"))
    adapter = tmp_path / "adapters" / "rehearsal"

    with pytest.raises(Crash):
        higgs_lora.train(recipe, callbacks=[CrashAtStep(3)], progress=False)
    result = higgs_lora.train(recipe, resume=True, progress=False)
    metrics = result.metrics
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 4
    precision = {"bfloat16": "bf16", "float16": "fp16"}[dtype]
    assert (metrics["compute_dtype"], metrics["mixed_precision"]) == (dtype, precision)
    assert metrics["dataloader_workers"] == 2
    assert metrics["eval_loss"] is not None and len(metrics["eval_history"]) >= 2
    assert all(loss == loss for _, loss in metrics["loss_history"]), "finite losses"
    for step in (2, 4):
        assert soundfile.info(str(adapter / "samples" / f"step-{step}" / "00.wav")).frames > 0

    merged = higgs_lora.merge(adapter, dtype="bf16" if dtype == "bfloat16" else "fp16", device="cpu")
    assert merged.kept >= 0.9  # this tiny adapter (lr 3e-3) is far larger than a real run's
    assert json.loads((adapter / "merged" / "higgs_lora_merge.json").read_text())["system_prompt"] == PROMPT

    import importlib

    speak_module = importlib.import_module("higgs_lora.verbs.speak")  # the module, not the verb

    prompts: list[str] = []
    original = speak_module.make_speaker

    def spy(*args, **kwargs):
        prompts.append(kwargs["system_prompt"])
        return original(*args, **kwargs)

    with mock.patch.object(speak_module, "make_speaker", spy):
        for quantization in ("nf4", "none"):
            speech = higgs_lora.speak(
                "Hi.",
                adapter=adapter,
                quantization=quantization,
                compute_dtype=dtype,
                max_seconds=0.3,
                seed=2,
            )
            assert speech.audio.size > 0 and speech.audio.dtype.name == "float32"
        speech = higgs_lora.speak(
            "Hi.", model=adapter / "merged", compute_dtype=dtype, max_seconds=0.3, seed=2
        )
        assert speech.audio.size > 0
    assert prompts == [PROMPT] * 3, "speak uses the system prompt the adapter was trained with"


def test_speak_refuses_empty_text_before_loading_anything(tmp_path: Path) -> None:
    for text in ("", "   \n"):
        with pytest.raises(HiggsLoraError, match="--text is empty"):
            higgs_lora.speak(text, adapter=tmp_path / "not-even-there")
    result = run_cli("speak", "--text", " ", "--adapter", str(tmp_path), "--out", str(tmp_path / "x.wav"))
    assert result.returncode == 2 and "--text is empty" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.wav").exists()
