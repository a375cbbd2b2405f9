"""A really trained tiny adapter through `convert` and `merge --layout native`, back into the kit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import higgs_lora
from higgs_lora import ModelError
from higgs_lora.backends.boson.collate import probe_batch
from higgs_lora.backends.boson.tiny import tiny_config
from higgs_lora.backends.tiny import build_tiny_text_tokenizer
from higgs_lora.cli import main
from higgs_lora.conversion.adapters import adapter_layout
from higgs_lora.conversion.files import convert_checkpoint_folder
from higgs_lora.higgs.layouts import LAYOUT_FILE, to_native_key
from tests.helpers import smoke_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, codes_cache_dir: Path) -> Path:
    """Two real training steps on the tiny model (attention, audio FFN and heads targeted)."""
    folder = tmp_path_factory.mktemp("convert")
    recipe = smoke_recipe(folder, codes_cache_dir, train="max_steps = 2\nsave_steps = 100", name="voice")
    return higgs_lora.train(recipe, progress=False).adapter_dir


@pytest.fixture(scope="module")
def probe() -> dict:
    return probe_batch(tiny_config(), build_tiny_text_tokenizer(), "cpu")


def _outputs(model, probe: dict) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        out = model.eval()(**probe)
    return out.logits, out.audio_logits


def test_trained_adapter_round_trip_loads_with_identical_outputs(
    adapter: Path, probe: dict, tmp_path: Path
) -> None:
    native = higgs_lora.convert_adapter(adapter, to="native", out=tmp_path / "voice-native")
    assert adapter_layout(native) == "native"
    assert (native / "recipe.toml").read_text() == (adapter / "recipe.toml").read_text()
    assert json.loads((native / LAYOUT_FILE).read_text())["layout"] == "native"
    with pytest.raises(ModelError, match=r"transformers-native layout.*higgs-lora convert .* --to boson"):
        higgs_lora.load_adapter(native)

    back = higgs_lora.convert_adapter(native, to="boson", out=tmp_path / "voice-boson")
    expected = _outputs(higgs_lora.load_adapter(adapter), probe)
    actual = _outputs(higgs_lora.load_adapter(back), probe)
    assert all(torch.equal(a, e) for a, e in zip(actual, expected, strict=True))
    model = higgs_lora.load_adapter(back)
    with model.disable_adapter():
        base = _outputs(model, probe)
    assert not torch.equal(base[1], actual[1])  # the converted adapter is applied, not silently dropped


def test_merge_native_layout_writes_the_checked_weights_renamed(adapter: Path, tmp_path: Path) -> None:
    boson = higgs_lora.merge(adapter, out=tmp_path / "boson", dtype="fp32")
    native = higgs_lora.merge(adapter, out=tmp_path / "native", dtype="fp32", layout="native")
    assert native.max_abs_diff == boson.max_abs_diff
    config = json.loads((tmp_path / "native" / "config.json").read_text())
    assert config["model_type"] == "higgs_audio_v2" and config["codebook_size"] == 1026
    assert json.loads((tmp_path / "native" / "higgs_lora_merge.json").read_text())["layout"] == "native"
    assert "HiggsAudioV2ForConditionalGeneration" in (tmp_path / "native" / "README.md").read_text()
    with (
        safe_open(str(tmp_path / "boson" / "model.safetensors"), "pt") as b,
        safe_open(str(tmp_path / "native" / "model.safetensors"), "pt") as n,
    ):
        boson_keys = [k for k in b.keys() if not k.endswith("inv_freq")]  # noqa: SIM118
        assert sorted(n.keys()) == sorted(to_native_key(k) for k in boson_keys)
        assert all(torch.equal(n.get_tensor(to_native_key(k)), b.get_tensor(k)) for k in boson_keys)
    # And back: boson-multimodal loads the native merge once its names are restored.
    shutil.copytree(tmp_path / "native", tmp_path / "restored")
    convert_checkpoint_folder(tmp_path / "restored", to="boson")
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    HiggsAudioModel.from_pretrained(str(tmp_path / "restored"), torch_dtype=torch.float32)


def test_cli_convert_prints_and_exits_2_on_user_errors(
    adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cli-native"
    assert main(["convert", str(adapter), "--to", "native", "--out", str(out)]) == 0
    assert "(native layout)" in capsys.readouterr().out
    assert main(["convert", str(adapter), "--to", "native", "--out", str(out)]) == 2
    assert "already exists. Pass --force" in capsys.readouterr().err
    assert main(["convert", str(out), "--to", "native", "--out", str(tmp_path / "again")]) == 2
    assert "already in the native layout" in capsys.readouterr().err
    assert main(["convert", str(adapter), "--to", "native", "--out", str(out), "--force"]) == 0
