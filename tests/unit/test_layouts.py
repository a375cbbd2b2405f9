"""The boson ↔ native layout mapping: keys, LoRA targets, adapters and full checkpoints (no training)."""

from __future__ import annotations

import json
import re
import struct
from itertools import combinations
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file

from higgs_lora import HiggsLoraError, OutputExistsError, convert_adapter
from higgs_lora.backends.boson import BACKEND
from higgs_lora.backends.boson.tiny import build_tiny_model
from higgs_lora.conversion.adapters import adapter_layout
from higgs_lora.conversion.files import convert_checkpoint_folder
from higgs_lora.core.hub import BASE_ID, PINNED_REVISIONS
from higgs_lora.higgs.configs import boson_config_from_native, native_config_from_boson
from higgs_lora.higgs.layouts import (
    LAYOUT_FILE,
    convert_state_dict,
    convert_targets,
    detect_layout,
    key_layout,
    to_boson_key,
    to_native_key,
)

# Module names of transformers' HiggsAudioV2ForConditionalGeneration (modeling_higgs_audio_v2.py, 5.x),
# written out from that file: the rename must land on exactly these.
NATIVE_PARAMETERS = {
    "model.embed_tokens.weight",
    "model.embed_audio_tokens.embed_audio_tokens.weight",
    "model.norm.weight",
    "audio_lm_head.weight",
    "text_lm_head.weight",  # with use_text_head=True
    *(
        f"model.layers.{i}.{name}.weight"
        for i in range(2)
        for name in (
            *(f"self_attn.{p}_proj" for p in "qkvo"),
            *(f"{mlp}.{p}_proj" for mlp in ("mlp", "audio_mlp") for p in ("gate", "up", "down")),
            "input_layernorm",
            "post_attention_layernorm",
            "audio_input_layernorm",
            "audio_post_attention_layernorm",
        )
    ),
}

PAIRS = [
    ("layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.weight"),
    ("layers.1.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight"),
    ("layers.1.audio_mlp.down_proj.weight", "model.layers.1.audio_mlp.down_proj.weight"),
    ("layers.0.audio_input_layernorm.weight", "model.layers.0.audio_input_layernorm.weight"),
    ("embed_tokens.weight", "model.embed_tokens.weight"),
    ("norm.weight", "model.norm.weight"),
    ("audio_codebook_embeddings.weight", "model.embed_audio_tokens.embed_audio_tokens.weight"),
    ("audio_decoder_proj.audio_lm_head.weight", "audio_lm_head.weight"),
    ("audio_decoder_proj.text_lm_head.weight", "text_lm_head.weight"),
    # PEFT adapter keys: the wrapper prefix stays, the module path moves.
    (
        "base_model.model.layers.0.self_attn.v_proj.lora_A.weight",
        "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
    ),
    (
        "base_model.model.layers.3.mlp.gate_proj.lora_B.weight",
        "base_model.model.model.layers.3.mlp.gate_proj.lora_B.weight",
    ),
    (
        "base_model.model.layers.27.audio_mlp.up_proj.lora_A.weight",
        "base_model.model.model.layers.27.audio_mlp.up_proj.lora_A.weight",
    ),
    (
        "base_model.model.audio_decoder_proj.audio_lm_head.lora_B.weight",
        "base_model.model.audio_lm_head.lora_B.weight",
    ),
    (
        "base_model.model.audio_decoder_proj.text_lm_head.lora_A.weight",
        "base_model.model.text_lm_head.lora_A.weight",
    ),
    (
        "base_model.model.audio_codebook_embeddings.lora_embedding_A",
        "base_model.model.model.embed_audio_tokens.embed_audio_tokens.lora_embedding_A",
    ),
    (
        "base_model.model.embed_tokens.lora_embedding_B",
        "base_model.model.model.embed_tokens.lora_embedding_B",
    ),
]


@pytest.mark.parametrize(("boson", "native"), PAIRS)
def test_every_kind_of_key_renames_both_ways(boson: str, native: str) -> None:
    assert to_native_key(boson) == native
    assert to_boson_key(native) == boson
    assert key_layout(boson) == "boson" and key_layout(native) == "native"


def test_boson_state_dict_lands_exactly_on_native_parameters() -> None:
    state = build_tiny_model().state_dict()
    native = convert_state_dict(state, "native")
    assert set(native) == NATIVE_PARAMETERS
    back = convert_state_dict(native, "boson")
    assert list(back) == list(state)
    assert all(back[k] is state[k] for k in state)  # renamed, never copied or cast


@pytest.mark.parametrize(
    ("key", "direction"),
    [("model.layers.0.mlp.up_proj.weight", to_native_key), ("layers.0.mlp.up_proj.weight", to_boson_key)],
)
def test_renaming_a_key_of_the_other_layout_names_the_key(key: str, direction) -> None:
    with pytest.raises(HiggsLoraError, match=re.escape(repr(key))):
        direction(key)


def test_detect_layout_refuses_mixed_and_foreign_keys() -> None:
    assert detect_layout(["layers.0.mlp.up_proj.weight", "norm.weight"]) == "boson"
    with pytest.raises(HiggsLoraError, match="keys of both layouts"):
        detect_layout(["layers.0.mlp.up_proj.weight", "model.norm.weight"], "x.safetensors")
    with pytest.raises(HiggsLoraError, match=r"x.safetensors: key 'transformer.h.0.attn' belongs to neither"):
        detect_layout(["transformer.h.0.attn"], "x.safetensors")
    with pytest.raises(HiggsLoraError, match="x.safetensors: holds no tensors"):
        detect_layout([], "x.safetensors")


def test_state_dict_conversion_joins_split_weights_and_drops_recomputed_buffers() -> None:
    state = {
        "embed_tokens.embedding_frozen.weight": torch.zeros(3, 2),
        "embed_tokens.embedding_trainable.weight": torch.ones(1, 2),
        "layers.0.self_attn.rotary_emb.inv_freq": torch.ones(4),
        "audio_decoder_proj.audio_lm_head.weight": torch.ones(5, 2),
    }
    native = convert_state_dict(state, "native")
    assert set(native) == {"model.embed_tokens.weight", "audio_lm_head.weight"}
    assert native["model.embed_tokens.weight"].shape == (4, 2)
    # The hub's native checkpoint keeps audio_decoder_proj.* copies beside the heads: drop them going back.
    hub = {**native, "audio_decoder_proj.audio_lm_head.weight": native["audio_lm_head.weight"]}
    assert set(convert_state_dict(hub, "boson")) == {
        "embed_tokens.weight",
        "audio_decoder_proj.audio_lm_head.weight",
    }
    with pytest.raises(HiggsLoraError, match="already in the native layout"):
        convert_state_dict(native, "native")


# ---- target_modules ----


def _kit_regex(groups: tuple[str, ...]) -> str:
    return "|".join(f"(?:{BACKEND.target_patterns[g]})" for g in groups)


@pytest.mark.parametrize(
    "groups",
    [c for n in range(1, 5) for c in combinations(("attention", "text_ffn", "audio_ffn", "heads"), n)],
)
def test_kit_regex_targets_select_the_renamed_modules_and_round_trip(groups: tuple[str, ...]) -> None:
    regex = _kit_regex(groups)
    native = convert_targets(regex, "native")
    boson_modules = [n for n, _ in build_tiny_model().named_modules() if n and re.fullmatch(regex, n)]
    native_modules = {k.removesuffix(".weight") for k in NATIVE_PARAMETERS}
    assert {n for n in native_modules if re.fullmatch(native, n)} == {to_native_key(n) for n in boson_modules}
    assert convert_targets(native, "boson") == regex


def test_list_targets_rename_rooted_names_and_keep_suffixes() -> None:
    boson = [
        "q_proj",
        "layers.0.mlp.up_proj",
        "audio_codebook_embeddings",
        "audio_decoder_proj.audio_lm_head",
    ]
    native = convert_targets(boson, "native")
    assert native == [
        "q_proj",
        "model.layers.0.mlp.up_proj",
        "model.embed_audio_tokens.embed_audio_tokens",
        "audio_lm_head",
    ]
    # A bare head name matches audio_decoder_proj.audio_lm_head in boson too (PEFT matches list suffixes).
    assert convert_targets(native, "boson") == [
        "q_proj",
        "layers.0.mlp.up_proj",
        "audio_codebook_embeddings",
        "audio_lm_head",
    ]


@pytest.mark.parametrize(
    "regex",
    [
        r"audio_decoder_proj\.audio_lm_head",
        r"(?:audio_decoder_proj\.(?:text_lm_head|audio_lm_head))",
        r"audio_decoder_proj\.(?:text_lm_head|audio_lm_head)|layers\.0\.mlp\.up_proj",
        r".*lm_head",  # layout-neutral: selects the heads in both, so it stays as written
        r"layers\.(?:0|1)\.self_attn\.[qv]_proj|audio_codebook_embeddings|embed_tokens",
    ],
)
def test_hand_written_regexes_round_trip_exactly(regex: str) -> None:
    assert convert_targets(convert_targets(regex, "native"), "boson") == regex


def test_layout_neutral_regex_is_kept_and_an_ambiguous_one_refused() -> None:
    assert convert_targets(r".*\.(?:q|v)_proj", "native") == r".*\.(?:q|v)_proj"
    with pytest.raises(HiggsLoraError, match="could not be rewritten for the native layout"):
        convert_targets(r"(?:layers|audio_decoder_proj)\..*", "native")


# ---- adapters ----


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    """A random (untrained) LoRA adapter on the tiny model, saved the way the kit saves one."""
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=_kit_regex(("attention", "audio_ffn", "heads")))
    model = get_peft_model(build_tiny_model(), config)
    folder = tmp_path / "adapters" / "voice"
    model.save_pretrained(str(folder))
    config_file = folder / "adapter_config.json"
    data = json.loads(config_file.read_text())
    config_file.write_text(
        json.dumps({**data, "base_model_name_or_path": BASE_ID, "revision": PINNED_REVISIONS[BASE_ID]})
    )
    for name, text in (
        ("recipe.toml", 'name = "voice"\n'),
        ("metrics.json", "{}"),
        ("README.md", "# voice\n"),
    ):
        (folder / name).write_text(text)
    (folder / "loss.png").write_bytes(b"\x89PNG fake")
    (folder / "checkpoints").mkdir()
    return folder


def _data_section(path: Path) -> bytes:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return raw[8 + length :]


def test_convert_adapter_to_native_and_back_is_byte_identical(adapter: Path) -> None:
    native = convert_adapter(adapter, to="native")
    assert native == adapter.with_name("voice-native") and adapter_layout(native) == "native"
    original, converted = (
        load_file(str(adapter / "adapter_model.safetensors")),
        load_file(str(native / "adapter_model.safetensors")),
    )
    assert set(converted) == {to_native_key(k) for k in original}
    assert all(torch.equal(converted[to_native_key(k)], v) for k, v in original.items())
    config = json.loads((native / "adapter_config.json").read_text())
    assert config["target_modules"].startswith(r"(?:model\.layers\.")
    assert config["auto_mapping"]["base_model_class"] == "HiggsAudioV2ForConditionalGeneration"
    assert (
        config["base_model_name_or_path"] == BASE_ID and config["revision"] is None
    )  # the hub's main is native
    assert json.loads((native / LAYOUT_FILE).read_text())["converted_from"]["layout"] == "boson"
    assert {p.name for p in native.iterdir()} == {
        "adapter_model.safetensors", "adapter_config.json", LAYOUT_FILE, "recipe.toml", "metrics.json",
        "README.md", "loss.png",
    }  # fmt: skip

    back = convert_adapter(native, to="boson", out=adapter.with_name("voice-again"))
    assert _data_section(back / "adapter_model.safetensors") == _data_section(
        adapter / "adapter_model.safetensors"
    )
    assert load_file(str(back / "adapter_model.safetensors")).keys() == original.keys()
    back_config = json.loads((back / "adapter_config.json").read_text())
    assert (
        back_config["target_modules"]
        == json.loads((adapter / "adapter_config.json").read_text())["target_modules"]
    )
    assert back_config["revision"] == PINNED_REVISIONS[BASE_ID]


def test_convert_adapter_refusals(adapter: Path, tmp_path: Path) -> None:
    with pytest.raises(HiggsLoraError, match="already in the boson layout"):
        convert_adapter(adapter, to="boson")
    native = convert_adapter(adapter, to="native")
    with pytest.raises(OutputExistsError, match="voice-native already exists. Pass --force"):
        convert_adapter(adapter, to="native")
    before = (native / "adapter_model.safetensors").stat().st_mtime_ns
    convert_adapter(adapter, to="native", force=True)
    assert (native / "adapter_model.safetensors").stat().st_mtime_ns != before
    with pytest.raises(HiggsLoraError, match="layout 'hf'"):
        convert_adapter(adapter, to="hf")  # type: ignore[arg-type]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "adapter_config.json").write_text("{}")
    save_file(
        {"base_model.model.transformer.h.0.attn.lora_A.weight": torch.zeros(2, 2)},
        str(foreign / "adapter_model.safetensors"),
    )
    with pytest.raises(HiggsLoraError, match="belongs to neither Higgs Audio v2 layout"):
        convert_adapter(foreign, to="native")
    with pytest.raises(HiggsLoraError, match="no adapter_config.json"):
        convert_adapter(tmp_path, to="native")
    assert not list(adapter.parent.glob(".*staging*"))


# ---- full checkpoints and configs ----


def test_checkpoint_folder_to_native_and_back_loads_the_same_weights(tmp_path: Path) -> None:
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    model = build_tiny_model()
    model.save_pretrained(tmp_path / "ckpt", safe_serialization=True)
    convert_checkpoint_folder(tmp_path / "ckpt", to="native")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["model_type"] == "higgs_audio_v2" and config["codebook_size"] == 1026
    assert config["head_dim"] == 16 and config["rope_parameters"] == {
        "rope_type": "default",
        "rope_theta": 10000.0,
    }
    assert set(load_file(str(tmp_path / "ckpt" / "model.safetensors"))) == NATIVE_PARAMETERS
    with pytest.raises(HiggsLoraError, match="already in the native layout"):
        convert_checkpoint_folder(tmp_path / "ckpt", to="native")

    convert_checkpoint_folder(tmp_path / "ckpt", to="boson")
    reloaded = HiggsAudioModel.from_pretrained(str(tmp_path / "ckpt"), torch_dtype=torch.float32)
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("inv_freq")}
    actual = reloaded.state_dict()
    assert all(torch.equal(actual[k], v) for k, v in expected.items())


def test_native_config_maps_a_llama3_rope_full_size_config() -> None:
    real = {
        "text_config": {
            "vocab_size": 128256, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28,
            "num_attention_heads": 24, "num_key_value_heads": 8, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
            "max_position_embeddings": 131072, "head_dim": 128,
            "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        },
        "audio_adapter_type": "dual_ffn_fast_forward", "audio_dual_ffn_layers": list(range(28)),
        "audio_ffn_hidden_size": 3072, "audio_ffn_intermediate_size": 8192, "skip_audio_tower": True,
        "encode_audio_in_tokens": True, "audio_num_codebooks": 8, "audio_codebook_size": 1024,
        "torch_dtype": "bfloat16",
    }  # fmt: skip
    native = native_config_from_boson(real)
    assert native["codebook_size"] == 1026 and native["num_codebooks"] == 8 and native["head_dim"] == 128
    assert (
        native["rope_parameters"]["rope_type"] == "llama3"
        and native["rope_parameters"]["rope_theta"] == 500000.0
    )
    assert native["dtype"] == "bfloat16"
    back = boson_config_from_native(native)
    assert back["audio_codebook_size"] == 1024 and back["text_config"]["rope_scaling"]["factor"] == 32.0
    assert native_config_from_boson(back)["rope_parameters"] == native["rope_parameters"]


def test_native_config_fills_omitted_text_fields_with_llama_defaults_not_native_ones() -> None:
    config = {
        "text_config": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        "audio_adapter_type": "dual_ffn_fast_forward",
        "audio_dual_ffn_layers": [0, 1],
        "audio_ffn_hidden_size": 64,
        "audio_ffn_intermediate_size": 128,
    }
    native = native_config_from_boson(config)
    assert native["rms_norm_eps"] == 1e-6 and native["num_key_value_heads"] == 4 and native["head_dim"] == 16
    assert native["rope_parameters"] == {"rope_type": "default", "rope_theta": 10000.0}


def test_native_config_refuses_what_the_native_class_cannot_express() -> None:
    config = {
        "text_config": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        "audio_adapter_type": "dual_ffn",
        "audio_dual_ffn_layers": [0],
        "audio_ffn_intermediate_size": 256,
    }
    with pytest.raises(HiggsLoraError) as error:
        native_config_from_boson(config)
    message = str(error.value)
    assert "audio_adapter_type = 'dual_ffn'" in message and "audio_dual_ffn_layers = [0]" in message
    assert "audio_ffn_intermediate_size = 256" in message
