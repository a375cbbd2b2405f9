"""The two checkpoint layouts of Higgs Audio v2 and the mapping between them (HIGGS_NOTES §13).

"boson": boson-multimodal's `HiggsAudioModel` (what the kit trains today); "native": transformers ≥ 5.3's
`HiggsAudioV2ForConditionalGeneration` (the hub's `main` since 2026-04). Same network; only names move:

    boson                                   native
    embed_tokens / layers.* / norm          model.embed_tokens / model.layers.* / model.norm
    audio_codebook_embeddings               model.embed_audio_tokens.embed_audio_tokens  (same [C·K, H])
    audio_decoder_proj.audio_lm_head        audio_lm_head
    audio_decoder_proj.text_lm_head         text_lm_head  (native: only with use_text_head=True)

This module reads and writes safetensors headers and JSON only (no torch, transformers or boson at import),
so the native environment can import it. Adapter weights are renamed by rewriting the safetensors header and
copying the tensor bytes unchanged: a conversion is byte-identical by construction.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from higgs_lora.errors import HiggsLoraError, OutputExistsError
from higgs_lora.fileio import swap_in_folder

Layout = Literal["boson", "native"]
LAYOUTS: tuple[Layout, ...] = ("boson", "native")
LAYOUT_FILE = "higgs_lora_layout.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."

# (boson pattern, native replacement) and the reverse. Applied to a module path or a full key; anchored
# at the start and followed by "." or the end, so "layers_x" or "normal" never match.
_TO_NATIVE = (
    (re.compile(r"^(embed_tokens|layers|norm)(?=\.|$)"), r"model.\1"),
    (re.compile(r"^audio_codebook_embeddings(?=\.|$)"), "model.embed_audio_tokens.embed_audio_tokens"),
    (re.compile(r"^audio_decoder_proj\.(audio_lm_head|text_lm_head)(?=\.|$)"), r"\1"),
)
_TO_BOSON = (
    (re.compile(r"^model\.(embed_tokens|layers|norm)(?=\.|$)"), r"\1"),
    (re.compile(r"^model\.embed_audio_tokens\.embed_audio_tokens(?=\.|$)"), "audio_codebook_embeddings"),
    (re.compile(r"^(audio_lm_head|text_lm_head)(?=\.|$)"), r"audio_decoder_proj.\1"),
)
AUTO_MAPPING = {
    "boson": {
        "base_model_class": "HiggsAudioModel",
        "parent_library": "boson_multimodal.model.higgs_audio.modeling_higgs_audio",
    },
    "native": {
        "base_model_class": "HiggsAudioV2ForConditionalGeneration",
        "parent_library": "transformers.models.higgs_audio_v2.modeling_higgs_audio_v2",
    },
}
# Buffers a boson checkpoint may hold that the native model recomputes (transformers' conversion script).
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq", "rotary_emb.original_inv_freq", "audio_codebook_weights")


def _rename(name: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, replacement in rules:
        if pattern.search(name):
            return pattern.sub(replacement, name, count=1)
    return None


def _convert_key(key: str, to: Layout) -> str:
    _check_layout(to)
    prefix = PEFT_PREFIX if key.startswith(PEFT_PREFIX) else ""
    renamed = _rename(key[len(prefix) :], _TO_NATIVE if to == "native" else _TO_BOSON)
    if renamed is None:
        source = "boson" if to == "native" else "native"
        raise HiggsLoraError(
            f"key {key!r} is not a {source}-layout Higgs Audio v2 key; cannot rename it to {to}."
        )
    return prefix + renamed


def to_native_key(key: str) -> str:
    """`layers.0.mlp.up_proj.weight` → `model.layers.0.mlp.up_proj.weight`; a PEFT prefix is kept."""
    return _convert_key(key, "native")


def to_boson_key(key: str) -> str:
    """The inverse of `to_native_key`."""
    return _convert_key(key, "boson")


def key_layout(key: str) -> Layout | None:
    """Which layout a (possibly PEFT-prefixed) key belongs to, or None when it is neither's."""
    bare = key.removeprefix(PEFT_PREFIX)
    if _rename(bare, _TO_NATIVE) is not None:
        return "boson"
    if _rename(bare, _TO_BOSON) is not None:
        return "native"
    return None


def detect_layout(keys: Iterable[str], where: str = "checkpoint") -> Layout:
    """The one layout all `keys` share; a clear error for a mix or for keys of neither layout."""
    seen: dict[Layout | None, str] = {}
    for key in keys:
        seen.setdefault(key_layout(key), key)
    if not seen:
        raise HiggsLoraError(f"{where}: holds no tensors.")
    if None in seen:
        raise HiggsLoraError(
            f"{where}: key {seen[None]!r} belongs to neither Higgs Audio v2 layout (boson keys start with "
            "'layers.', 'embed_tokens', 'audio_codebook_embeddings' or 'audio_decoder_proj.'; native ones with "
            "'model.', 'audio_lm_head' or 'text_lm_head'). Is this a Higgs Audio v2 checkpoint or adapter?"
        )
    if len(seen) != 1:
        raise HiggsLoraError(
            f"{where}: keys of both layouts ({seen['boson']!r} is boson, {seen['native']!r} is native); "
            "the file is corrupt or hand-edited."
        )
    return next(iter(seen))  # type: ignore[return-value]


# ---- target_modules ----------------------------------------------------------------------------------


def convert_targets(targets: str | list[str], to: Layout, num_layers: int = 2) -> str | list[str]:
    """Rewrite PEFT `target_modules` (a list of names, or one regex that PEFT full-matches) for `to`.

    List entries with a layout-specific root are renamed; suffix names like "q_proj" work in both layouts
    and stay. A regex is split into its top-level alternatives and each rooted one is renamed; the result
    is then checked against the module names of both layouts (`num_layers` decoder layers) and refused if
    it would select different modules, rather than guessing."""
    _check_layout(to)
    if isinstance(targets, list):
        return [_convert_target_name(name, to) for name in targets]
    converted = "|".join(_convert_alternative(part, to) for part in _alternatives(targets))
    source: Layout = "boson" if to == "native" else "native"
    selected = {
        _convert_key(name, to) for name in module_names(source, num_layers) if re.fullmatch(targets, name)
    }
    now = {name for name in module_names(to, num_layers) if re.fullmatch(converted, name)}
    if selected != now:
        raise HiggsLoraError(
            f"target_modules regex {targets!r} could not be rewritten for the {to} layout (the rewrite "
            f"{converted!r} selects {sorted(now ^ selected)[:3]} differently). Write the {to} regex by hand: "
            f"module names there look like {module_names(to, 1)[0]!r}."
        )
    return converted


def module_names(layout: Layout, num_layers: int) -> list[str]:
    """The names of every module LoRA may target in a Higgs v2 model of `num_layers` layers."""
    names = [
        f"layers.{i}.{block}.{proj}"
        for i in range(num_layers)
        for block, projs in (
            ("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
            ("mlp", ("gate_proj", "up_proj", "down_proj")),
            ("audio_mlp", ("gate_proj", "up_proj", "down_proj")),
        )
        for proj in projs
    ]
    names += ["embed_tokens", "audio_codebook_embeddings", "audio_decoder_proj.audio_lm_head"]
    names += ["audio_decoder_proj.text_lm_head"]
    return names if layout == "boson" else [to_native_key(name) for name in names]


def _convert_target_name(name: str, to: Layout) -> str:
    if to == "boson" and name in ("audio_lm_head", "text_lm_head"):
        return name  # a suffix that matches audio_decoder_proj.X in boson too
    if to == "boson" and name == "embed_audio_tokens.embed_audio_tokens":
        return "audio_codebook_embeddings"
    return _rename(name, _TO_NATIVE if to == "native" else _TO_BOSON) or name


# Regex versions of the rooted prefixes: (source regex prefix, target regex prefix), tried in order. The
# native heads have no prefix of their own: `_convert_alternative` recognises them by what they select.
_REGEX_TO_NATIVE = (
    (r"layers\.", r"model\.layers\."),
    (r"embed_tokens", r"model\.embed_tokens"),
    (r"norm", r"model\.norm"),
    (r"audio_codebook_embeddings", r"model\.embed_audio_tokens\.embed_audio_tokens"),
    (r"audio_decoder_proj\.", ""),
)
_REGEX_TO_BOSON = (
    (r"model\.embed_audio_tokens\.embed_audio_tokens", r"audio_codebook_embeddings"),
    (r"model\.", ""),
)
_NATIVE_HEADS = {"audio_lm_head", "text_lm_head"}


def _convert_alternative(part: str, to: Layout) -> str:
    group = _is_group(part)
    inner = part[3:-1] if group else part
    for source, target in _REGEX_TO_NATIVE if to == "native" else _REGEX_TO_BOSON:
        if inner.startswith(source):
            inner = target + inner[len(source) :]
            break
    else:
        heads = {name for name in _NATIVE_HEADS if re.fullmatch(inner, name)}
        only_heads = not any(re.fullmatch(inner, n) for n in module_names("native", 1) if n not in heads)
        neutral = all(re.fullmatch(inner, f"audio_decoder_proj.{name}") for name in heads)  # e.g. ".*lm_head"
        if to == "boson" and heads and only_heads and not neutral:
            return _prefix_heads(part, inner, group)
    return f"(?:{inner})" if group else inner


def _prefix_heads(part: str, inner: str, group: bool) -> str:
    """`audio_decoder_proj.` before a native head alternative, grouped so `a|b` stays one alternative,
    and without adding groups the boson original did not have (the kit's regex round-trips exactly)."""
    if group and _is_group(inner):
        return rf"(?:audio_decoder_proj\.{inner})"
    if group or len(_alternatives(inner)) == 1:
        return rf"audio_decoder_proj\.{part}"
    return rf"audio_decoder_proj\.(?:{inner})"


def _alternatives(regex: str) -> list[str]:
    """Split `a|(?:b|c)|d` at its top-level bars (escapes and character classes respected)."""
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:i])
            start = i + 1
        i += 1
    return [*parts, regex[start:]]


def _is_group(part: str) -> bool:
    """`(?:...)` wrapping the whole alternative (not `(?:a)b(?:c)`)."""
    return part.startswith("(?:") and part.endswith(")") and _closes_at_end(part)


def _closes_at_end(part: str) -> bool:
    depth, i = 0, 0
    while i < len(part):
        if part[i] == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(part[i], 0)
        if depth == 0 and i < len(part) - 1:
            return False
        i += 1
    return True


# ---- adapters ----------------------------------------------------------------------------------------


def adapter_layout(adapter_dir: str | Path) -> Layout:
    """The layout of an adapter folder, from the keys of its weights."""
    weights = Path(adapter_dir) / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise HiggsLoraError(
            f"{adapter_dir}: no {ADAPTER_WEIGHTS}; is this an adapter folder (adapters/<name>/)?"
        )
    header, _ = _read_header(weights)
    return detect_layout([k for k in header if k != "__metadata__"], str(weights))


def convert_adapter(
    adapter_dir: str | Path, to: Layout = "native", out: str | Path | None = None, force: bool = False
) -> Path:
    """Write a copy of a PEFT LoRA adapter in the `to` layout; returns the new folder.

    `out` defaults to `<adapter>-<to>` beside the adapter and is never replaced without `force`. Tensor bytes
    are copied unchanged; keys and `target_modules` are renamed; the other top-level files (recipe.toml,
    metrics.json, README.md, loss.png) are copied, sub-folders (checkpoints, samples, merged) are not.
    `higgs_lora_layout.json` records the layout and where the adapter came from."""
    _check_layout(to)
    source_dir = Path(adapter_dir)
    weights = source_dir / ADAPTER_WEIGHTS
    config_file = source_dir / ADAPTER_CONFIG
    if not config_file.is_file():
        raise HiggsLoraError(
            f"{source_dir}: no {ADAPTER_CONFIG}; is this an adapter folder (adapters/<name>/)?"
        )
    source = adapter_layout(source_dir)
    if source == to:
        raise HiggsLoraError(f"{weights}: the adapter is already in the {to} layout; nothing to convert.")
    out = Path(out) if out is not None else source_dir.with_name(f"{source_dir.name}-{to}")
    if out.resolve() == source_dir.resolve():
        raise HiggsLoraError(f"--out {out} is the adapter itself; choose another folder.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise OutputExistsError(f"{out} already exists. Pass --force to replace it, or choose another --out.")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise HiggsLoraError(f"{config_file}: not valid JSON ({err.msg}, line {err.lineno}).") from None

    header, _ = _read_header(weights)
    layers = [int(m.group(1)) for k in header if (m := re.search(r"(?:^|\.)layers\.(\d+)\.", k))]
    num_layers = max(layers, default=1) + 1
    new_config = dict(config)
    for field in ("target_modules", "modules_to_save", "exclude_modules"):
        if config.get(field):
            new_config[field] = convert_targets(config[field], to, num_layers)
    for field in ("rank_pattern", "alpha_pattern"):  # keys are module names or suffixes, like list targets
        if config.get(field):
            new_config[field] = {_convert_target_name(k, to): v for k, v in config[field].items()}
    if config.get("auto_mapping"):  # PEFT records the base class it was saved from
        new_config["auto_mapping"] = dict(AUTO_MAPPING[to])
    before = config.get("base_model_name_or_path")
    new_config["revision"] = _revision_for(before, to, config.get("revision"))
    record = {
        "layout": to,
        "converted_from": {
            "layout": source,
            "adapter": str(source_dir.resolve()),
            "base_model_name_or_path": before,
        },
        "note": "Converted by higgs-lora convert; tensors are byte-identical, only names changed.",
    }

    def write(staging: Path) -> None:
        _rename_safetensors(weights, staging / ADAPTER_WEIGHTS, lambda key: _convert_key(key, to))
        (staging / ADAPTER_CONFIG).write_text(json.dumps(new_config, indent=2) + "\n", encoding="utf-8")
        (staging / LAYOUT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for file in sorted(source_dir.iterdir()):
            if file.is_file() and file.name not in (ADAPTER_WEIGHTS, ADAPTER_CONFIG, LAYOUT_FILE):
                shutil.copy2(file, staging / file.name)

    _write_folder(out, write, force)
    return out


def _revision_for(base: str | None, to: Layout, revision: str | None) -> str | None:
    """The official repo keeps its id in both layouts: `main` is native, the pinned revision is boson.
    Any other base (a local folder, tiny-random) is kept: point a native loader at a native copy of it."""
    from higgs_lora.recipe import BASE_ID, PINNED_REVISIONS

    if base != BASE_ID:
        return revision
    return None if to == "native" else PINNED_REVISIONS[BASE_ID]


# ---- full checkpoints --------------------------------------------------------------------------------


def convert_state_dict(state: dict[str, Any], to: Layout) -> dict[str, Any]:
    """Rename a full model state dict to `to`; values are passed through untouched (same objects).

    boson → native also joins boson's PartiallyFrozen split weights (as transformers' conversion script does)
    and drops recomputed buffers; native → boson drops the `audio_decoder_proj.*` duplicates the hub's native
    checkpoint keeps beside `audio_lm_head`/`text_lm_head`."""
    _check_layout(to)
    state = dict(state)
    if to == "native":
        _join_partially_frozen(state)
        state = {k: v for k, v in state.items() if not k.endswith(_IGNORED_SUFFIXES)}
    else:
        for head in ("audio_lm_head", "text_lm_head"):
            if f"{head}.weight" in state:
                state.pop(f"audio_decoder_proj.{head}.weight", None)
    source = detect_layout(state, "state dict")
    if source == to:
        raise HiggsLoraError(f"state dict is already in the {to} layout; nothing to convert.")
    return {_convert_key(key, to): value for key, value in state.items()}


def _join_partially_frozen(state: dict[str, Any]) -> None:
    import torch

    for name, frozen, trainable in (
        ("embed_tokens", "embedding_frozen", "embedding_trainable"),
        ("audio_decoder_proj.audio_lm_head", "linear_frozen", "linear_trainable"),
        ("audio_decoder_proj.text_lm_head", "linear_frozen", "linear_trainable"),
    ):
        if f"{name}.{frozen}.weight" in state:
            parts = [state.pop(f"{name}.{frozen}.weight"), state.pop(f"{name}.{trainable}.weight")]
            state[f"{name}.weight"] = torch.cat(parts, dim=0)


# Config fields whose values change the network: the native class hard-codes the boson settings below.
_REQUIRED_BOSON = {
    "audio_adapter_type": "dual_ffn_fast_forward",
    "skip_audio_tower": True,
    "encode_audio_in_tokens": True,
    "use_audio_out_embed_projector": False,
    "use_audio_out_self_attention": False,
    "use_rq_transformer": False,
    "audio_embed_avg": False,
    "audio_decoder_proj_num_layers": 0,
}
# Token ids the native class has but boson's config does not: transformers' conversion script's values.
NATIVE_DELAY_TOKEN_ID = 128014
NATIVE_EOS_TOKEN_ID = 128009
_SHARED_TEXT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
    "pretraining_tp",
    "attention_bias",
    "attention_dropout",
    "mlp_bias",
)
# transformers' LlamaConfig defaults (boson's text_config), used for a field its config.json omits: the native
# class defaults differ for some (rms_norm_eps 1e-5, not 1e-6), which would change the network silently.
_LLAMA_DEFAULTS = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-6,
    "pretraining_tp": 1,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
}


def native_config_from_boson(config: dict[str, Any]) -> dict[str, Any]:
    """A `HiggsAudioV2Config` dict (config.json) for a boson `HiggsAudioConfig` dict.

    Refuses boson variants the native class cannot express (another adapter type, dual FFN on only some
    layers, an audio tower, audio FFN of another size). Field mapping follows transformers'
    `convert_higgs_audio_v2_to_hf.py`; the codebook size includes the stream BOS/EOS (1024 → 1026)."""
    text = {**_LLAMA_DEFAULTS, **(config.get("text_config") or {})}
    text.setdefault("num_key_value_heads", text["num_attention_heads"])
    problems = [
        f"{key} = {config.get(key)!r} (native needs {value!r})"
        for key, value in _REQUIRED_BOSON.items()
        if config.get(key, value) != value
    ]
    layers = text.get("num_hidden_layers")
    if sorted(config.get("audio_dual_ffn_layers") or []) != list(range(layers or 0)):
        problems.append(
            f"audio_dual_ffn_layers = {config.get('audio_dual_ffn_layers')!r} (native: all {layers})"
        )
    for audio, shared in (
        ("audio_ffn_hidden_size", "hidden_size"),
        ("audio_ffn_intermediate_size", "intermediate_size"),
    ):
        if config.get(audio, text.get(shared)) != text.get(shared):
            problems.append(f"{audio} = {config.get(audio)} (native: the text {shared}, {text.get(shared)})")
    if problems:
        raise HiggsLoraError(
            "boson config cannot be expressed in the native layout: " + "; ".join(problems) + "."
        )
    hidden, heads = text["hidden_size"], text["num_attention_heads"]
    rope = dict(text.get("rope_scaling") or {"rope_type": "default"})
    rope["rope_type"] = rope.pop("type", None) or rope.get("rope_type", "default")
    rope["rope_theta"] = text.get("rope_theta", 10000.0)
    native = {k: text[k] for k in _SHARED_TEXT_FIELDS if k in text}
    native.update(
        model_type="higgs_audio_v2",
        architectures=["HiggsAudioV2ForConditionalGeneration"],
        head_dim=text.get("head_dim") or hidden // heads,
        rope_parameters=rope,
        tie_word_embeddings=False,
        pad_token_id=config.get("pad_token_id", 128001),
        bos_token_id=text.get("bos_token_id", 128000),
        eos_token_id=NATIVE_EOS_TOKEN_ID,
        num_codebooks=config.get("audio_num_codebooks", 12),
        codebook_size=config.get("audio_codebook_size", 1024) + 2,
        audio_token_id=config.get("audio_out_token_idx", 128016),
        audio_bos_token_id=config.get("audio_out_bos_token_id", 128013),
        audio_delay_token_id=NATIVE_DELAY_TOKEN_ID,
        audio_stream_bos_id=config.get("audio_stream_bos_id", 1024),
        audio_stream_eos_id=config.get("audio_stream_eos_id", 1025),
    )
    dtype = config.get("torch_dtype") or text.get("torch_dtype")
    if dtype:
        native["dtype"] = dtype
    return native


# HiggsAudioV2Config's defaults (transformers 5.x configuration_higgs_audio_v2.py), for omitted fields.
_NATIVE_DEFAULTS: dict[str, Any] = {
    "vocab_size": 128256,
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 28,
    "num_attention_heads": 24,
    "num_key_value_heads": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-5,
    "pretraining_tp": 1,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "head_dim": 128,
    "pad_token_id": 128001,
    "bos_token_id": 1,
    "eos_token_id": 128009,
    "num_codebooks": 8,
    "codebook_size": 1024,
    "audio_token_id": 128016,
    "audio_bos_token_id": 128013,
    "audio_stream_bos_id": 1024,
    "audio_stream_eos_id": 1025,
    "rope_parameters": {
        "factor": 32.0,
        "rope_theta": 500000.0,
        "high_freq_factor": 0.5,
        "low_freq_factor": 0.125,
        "original_max_position_embeddings": 1024,
        "rope_type": "llama3",
    },
}


def boson_config_from_native(config: dict[str, Any]) -> dict[str, Any]:
    """A boson `HiggsAudioConfig` dict for a native `HiggsAudioV2Config` dict (the reverse mapping)."""
    if config.get("model_type") not in (None, "higgs_audio_v2"):
        raise HiggsLoraError(f"config model_type {config.get('model_type')!r} is not higgs_audio_v2.")
    config = {**_NATIVE_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    text: dict[str, Any] = {k: config[k] for k in _SHARED_TEXT_FIELDS}
    rope = dict(config["rope_parameters"])
    text["rope_theta"] = rope.pop("rope_theta", 10000.0)
    text["rope_scaling"] = None if rope.get("rope_type", "default") == "default" else rope
    text.update(
        model_type="llama",
        head_dim=config["head_dim"],
        bos_token_id=config["bos_token_id"],
        eos_token_id=config["eos_token_id"],
        pad_token_id=config["pad_token_id"],
        tie_word_embeddings=False,
    )
    layers = config["num_hidden_layers"]
    boson = dict(_REQUIRED_BOSON)
    boson.update(
        model_type="higgs_audio",
        architectures=["HiggsAudioModel"],
        text_config=text,
        audio_dual_ffn_layers=list(range(layers)),
        audio_ffn_hidden_size=config["hidden_size"],
        audio_ffn_intermediate_size=config["intermediate_size"],
        encode_whisper_embed=False,
        use_delay_pattern=True,
        audio_num_codebooks=config["num_codebooks"],
        audio_codebook_size=config["codebook_size"] - 2,  # native counts the stream BOS/EOS
        audio_stream_bos_id=config["audio_stream_bos_id"],
        audio_stream_eos_id=config["audio_stream_eos_id"],
        audio_out_token_idx=config["audio_token_id"],
        audio_out_bos_token_id=config["audio_bos_token_id"],
        pad_token_id=config["pad_token_id"],
    )
    if config.get("dtype") or config.get("torch_dtype"):
        boson["torch_dtype"] = config.get("dtype") or config.get("torch_dtype")
    return boson


def convert_checkpoint_folder(folder: str | Path, to: Layout = "native") -> None:
    """Rewrite, in place, a saved full checkpoint (config.json + safetensors shards, index included) to `to`.

    Meant for a staging folder (merge writes one, converts it, then swaps it in): tensor bytes are kept,
    only shard headers, the index's weight map and config.json change."""
    folder = Path(folder)
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise HiggsLoraError(f"{folder}: no .safetensors files to convert.")
    keys = [k for shard in shards for k in _read_header(shard)[0] if k != "__metadata__"]
    keys = [k for k in keys if not k.endswith(_IGNORED_SUFFIXES)]
    if detect_layout(keys, str(folder)) == to:
        raise HiggsLoraError(f"{folder}: the checkpoint is already in the {to} layout; nothing to convert.")
    for shard in shards:
        staged = shard.with_name(f".{shard.name}.tmp")
        _rename_safetensors(shard, staged, lambda key: _convert_key(key, to), drop=_IGNORED_SUFFIXES)
        staged.replace(shard)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data["weight_map"] = {
            _convert_key(k, to): v for k, v in data["weight_map"].items() if not k.endswith(_IGNORED_SUFFIXES)
        }
        index.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    new_config = native_config_from_boson(config) if to == "native" else boson_config_from_native(config)
    config_file.write_text(json.dumps(new_config, indent=2) + "\n", encoding="utf-8")


# ---- files -------------------------------------------------------------------------------------------


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header and the byte offset where tensor data starts."""
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise HiggsLoraError(f"{path}: not a safetensors file (shorter than 8 bytes).")
        (length,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError, MemoryError, OverflowError):
            raise HiggsLoraError(f"{path}: not a safetensors file (unreadable header).") from None
    return header, 8 + length


def _rename_safetensors(
    source: Path, target: Path, rename: Callable[[str], str], drop: tuple[str, ...] = ()
) -> None:
    """Copy a safetensors file with renamed keys: a new header, the data bytes copied unchanged.

    Offsets in the header are relative to the data section, so they stay valid; dropped tensors leave
    unreferenced bytes, which safetensors refuses, so dropping re-packs the data (still byte-for-byte)."""
    header, data_start = _read_header(source)
    metadata = header.pop("__metadata__", None)
    kept = {k: v for k, v in header.items() if not k.endswith(drop)} if drop else header
    new_header: dict[str, Any] = {"__metadata__": metadata} if metadata is not None else {}
    chunks: list[tuple[int, int]] = []
    position = 0
    for key, info in sorted(kept.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        chunks.append((begin, end))
        new_header[rename(key)] = {**info, "data_offsets": [position, position + end - begin]}
        position += end - begin
    if len(set(new_header)) != len(kept) + (metadata is not None):
        raise HiggsLoraError(f"{source}: renaming would give two tensors the same name.")
    encoded = json.dumps(new_header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # safetensors aligns the data section to 8 bytes
    with source.open("rb") as reader, target.open("wb") as writer:
        writer.write(struct.pack("<Q", len(encoded)))
        writer.write(encoded)
        for begin, end in chunks:
            reader.seek(data_start + begin)
            remaining = end - begin
            while remaining:
                block = reader.read(min(remaining, 1 << 24))
                if not block:
                    raise HiggsLoraError(f"{source}: truncated (tensor data ends early).")
                writer.write(block)
                remaining -= len(block)


def _write_folder(out: Path, write: Callable[[Path], None], force: bool) -> None:
    """Fill a staging folder beside `out`, then swap it in: a failure leaves `out` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    staging.chmod(0o755)
    try:
        write(staging)
        if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
            raise OutputExistsError(f"{out} appeared while converting; nothing replaced.")
        swap_in_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_layout(to: str) -> None:
    if to not in LAYOUTS:
        raise HiggsLoraError(f"layout {to!r}: choose boson or native.")


def native_card(out: str | Path, dtype: str) -> str:
    """The README of a merged checkpoint written in the native layout."""
    return f"""# Merged Higgs Audio v2 checkpoint (transformers-native layout)

A LoRA adapter folded into its base ({dtype}) by higgs-lora, checked on a probe batch in the boson layout,
then written with the key names and config of transformers >= 5.3:

```python
from transformers import HiggsAudioV2ForConditionalGeneration

model = HiggsAudioV2ForConditionalGeneration.from_pretrained("{out}", use_text_head=True)
```

boson-multimodal cannot read this folder; `higgs-lora merge --layout boson` writes one it can.
"""
