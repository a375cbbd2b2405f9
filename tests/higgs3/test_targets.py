"""`[lora] targets` on Higgs TTS 3: the groups resolve to its module names; v2's groups it lacks are
refused with the groups it has, and a recipe's typo is caught with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from higgs_lora.backends import get
from higgs_lora.backends.higgs3.tiny import build_tiny_model
from higgs_lora.core.errors import HiggsLoraError, ModelError
from higgs_lora.core.schema import LoraConfig
from higgs_lora.model.lora import matching_modules, target_regex

pytestmark = pytest.mark.backend("higgs3")


def test_groups_resolve_to_attention_and_mlp() -> None:
    patterns = get("higgs3").target_patterns
    model = build_tiny_model()
    names = matching_modules(model, target_regex(LoraConfig(targets=["attention", "mlp"]), patterns))
    assert len(names) == 2 * (4 + 3)
    assert "body.layers.0.self_attn.q_proj" in names and "body.layers.1.mlp.down_proj" in names
    assert not any("tied." in n for n in names)  # the tied table is no Linear: never wrapped


def test_a_v2_group_names_the_groups_of_this_backend() -> None:
    with pytest.raises(ModelError, match=r"'audio_ffn'.*groups are attention, mlp, text_ffn"):
        target_regex(LoraConfig(targets=["attention", "audio_ffn"]), get("higgs3").target_patterns)


def test_a_typo_in_the_recipe_gets_a_hint(tmp_path: Path) -> None:
    from higgs_lora.core.recipe import load_recipe

    file = tmp_path / "r.toml"
    file.write_text('name = "x"\n[model]\nbackend = "higgs3"\n[lora]\ntargets = ["attention", "mpl"]\n')
    with pytest.raises(HiggsLoraError, match="mpl"):
        load_recipe(file)
