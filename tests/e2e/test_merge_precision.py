"""A merge keeps what a real-size adapter changes, and speaking hears all of it.

A real run (lr 2e-4) moves each weight by ~1e-3 to 1e-2 of its norm: about one bf16 step. Folding such
an adapter into bf16 weights rounds most of it away, and a check against the largest logit cannot see
it. These tests use an adapter of that size (‖ΔW‖/‖W‖ = 2e-3) over a base stored in bf16, as the real
checkpoint is (`tests.helpers.real_size_adapter`), and measure the share of the adapter's effect on
the probe's audio logits that survives: 1 - ‖merged - adapted‖ / ‖adapted - base‖, all in fp32.
On whichever backend this environment has.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import higgs_lora
from higgs_lora import HiggsLoraError
from tests.helpers import adapter_effect, installed_backend, kept_share, real_size_adapter

MIN_KEPT = 0.9


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_size_adapter(tmp_path_factory.mktemp("real-size"))


@pytest.fixture(scope="module")
def reference(adapter: Path) -> dict[str, torch.Tensor]:
    return adapter_effect(adapter)


def test_the_default_merge_keeps_a_real_size_adapters_effect(
    adapter: Path, reference: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    result = higgs_lora.merge(adapter, out=tmp_path / "merged")
    # Measured here, independently of merge's own check: the checkpoint as written, read from disk.
    merged = installed_backend().load_base_model(str(tmp_path / "merged"), None, torch_dtype=torch.float32)
    assert kept_share(merged.eval(), reference) >= MIN_KEPT
    assert result.kept >= MIN_KEPT, result
    record = json.loads((tmp_path / "merged" / "higgs_lora_merge.json").read_text())
    assert record["kept"] == result.kept and record["dtype"] == result.dtype


def test_a_precision_that_would_round_the_adapter_away_is_refused_before_writing(
    adapter: Path, tmp_path: Path
) -> None:
    with pytest.raises(HiggsLoraError, match=r"keeps only \d+% of the adapter's effect.*--dtype fp32"):
        higgs_lora.merge(adapter, out=tmp_path / "lossy", dtype="bf16")
    assert not (tmp_path / "lossy").exists() and not list(tmp_path.glob(".lossy*"))


def test_speaking_in_full_precision_on_a_half_precision_base_keeps_the_adapter(
    adapter: Path, reference: dict[str, torch.Tensor]
) -> None:
    """As speak runs on a GPU: the base in bf16, full precision (no 4-bit)."""
    from higgs_lora.adapter.fit import load_for_speech
    from higgs_lora.adapter.setup import speech_setup

    setup = speech_setup(adapter, quantization="none", compute_dtype="bfloat16")
    model = load_for_speech(setup)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert kept_share(model, reference) >= 0.999  # the LoRA weights stay as trained (fp32), beside the base


def test_speak_and_eval_default_to_the_configuration_training_listened_with(adapter: Path) -> None:
    """[samples]/[eval] during training hear the live model: the trained base (4-bit unless the recipe
    says `quantization = "none"`), LoRA unmerged. speak and eval resolve the same by default."""
    from higgs_lora.adapter.setup import speech_setup

    assert speech_setup(adapter).model.quantization == "nf4"  # no recipe.toml: the schema's default
    plain = adapter.parent / "plain-lora"
    shutil.copytree(adapter, plain)
    (plain / "recipe.toml").write_text('[model]\nquantization = "none"\n', encoding="utf-8")
    assert speech_setup(plain).model.quantization == "none"
