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

import re
from collections.abc import Iterable
from typing import Any, Literal

from higgs_lora.core.errors import HiggsLoraError

Layout = Literal["boson", "native", "higgs3"]
LAYOUTS: tuple[Layout, ...] = ("boson", "native")
"""The layouts `convert` maps between. "higgs3" (Higgs TTS 3: `body.*`, `tied.*`) is another network,
recognised so its adapters load, never converted."""
_HIGGS3 = re.compile(r"^(body|tied)\.")
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


def convert_key(key: str, to: Layout) -> str:
    check_layout(to)
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
    return convert_key(key, "native")


def to_boson_key(key: str) -> str:
    """The inverse of `to_native_key`."""
    return convert_key(key, "boson")


def key_layout(key: str) -> Layout | None:
    """Which layout a (possibly PEFT-prefixed) key belongs to, or None when it is neither's."""
    bare = key.removeprefix(PEFT_PREFIX)
    if _HIGGS3.search(bare):
        return "higgs3"
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
            "'model.', 'audio_lm_head' or 'text_lm_head'; Higgs TTS 3 ones with 'body.' or 'tied.'). Is this a "
            "Higgs checkpoint or adapter?"
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
    check_layout(to)
    if isinstance(targets, list):
        return [convert_target_name(name, to) for name in targets]
    converted = "|".join(_convert_alternative(part, to) for part in _alternatives(targets))
    source: Layout = "boson" if to == "native" else "native"
    selected = {
        convert_key(name, to) for name in module_names(source, num_layers) if re.fullmatch(targets, name)
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


def convert_target_name(name: str, to: Layout) -> str:
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


# ---- full checkpoints --------------------------------------------------------------------------------


def convert_state_dict(state: dict[str, Any], to: Layout) -> dict[str, Any]:
    """Rename a full model state dict to `to`; values are passed through untouched (same objects).

    boson → native also joins boson's PartiallyFrozen split weights (as transformers' conversion script does)
    and drops recomputed buffers; native → boson drops the `audio_decoder_proj.*` duplicates the hub's native
    checkpoint keeps beside `audio_lm_head`/`text_lm_head`."""
    check_layout(to)
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
    return {convert_key(key, to): value for key, value in state.items()}


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


def check_layout(to: str) -> None:
    if to not in LAYOUTS:
        raise HiggsLoraError(f"layout {to!r}: choose boson or native.")
