"""Peak memory of the verbs around training: `speak` (full precision, or the 4-bit base with the adapter
unmerged), `merge` (on the GPU or on CPU), and listening while training (`[samples]`).

The same method as `plan.py`: weights are counted from the config on the meta device (exact, tested
against loaded models), the rest is estimated from shapes with the reasoning next to each number.
`benchmarks/plan_check.py --verbs` compares the device-independent parts with the live tensor bytes
of real generation on CPU.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from higgs_lora.planning.sizes import (
    CUDA_CONTEXT_BYTES,
    FRAGMENTATION,
    GIB,
    TEXT_TOKENS_FIXED,
    TEXT_TOKENS_PER_SECOND,
    compute_bytes,
)

KV_CACHE_LENGTHS = (1024, 4096)  # the static caches speak.Speaker sizes, as boson's serve engine does
REFERENCE_SECONDS = 10.0  # a typical voice-cloning reference clip in the prompt
LOGITS_COPIES = 2.5  # fp32-sized copies of the prompt's text logits alive at generation's peak
PROBE_TOKENS = 144  # merge.probe_batch's length with the byte-level tiny tokenizer (fewer with Llama-3's)
PROBE_COPIES = 4  # fp32 outputs alive at the merge check's peak (see merge_plan)
SHARD_BYTES = 5 * GIB  # transformers' default checkpoint shard size, read whole while loading
# The official audio tokenizer when its config.json cannot be read (offline, not cached): a 24 kHz,
# 25 frames/s codec around HuBERT-base; its weights estimated at ~0.75 GiB (fp32, about 200M
# parameters). Read from the tokenizer itself whenever its config is available.
FALLBACK_AUDIO_TOKENIZER = {"frames_per_second": 25.0, "bytes": int(0.75 * GIB)}


# Parameters of the scoring models `[eval]` keeps on the card (their published sizes), so planning needs
# no download. Whisper runs in fp16 on CUDA (asr.Transcriber); the speaker encoders in fp32.
WHISPER_PARAMS = {
    "openai/whisper-tiny": 39_000_000,
    "openai/whisper-base": 74_000_000,
    "openai/whisper-small": 244_000_000,
    "openai/whisper-medium": 769_000_000,
    "openai/whisper-large-v3": 1_550_000_000,
    "openai/whisper-large-v3-turbo": 809_000_000,
}
SPEAKER_ENCODER_PARAMS = {
    "resemblyzer": 1_400_000,
    "wavlm": 95_000_000,
    "auto": 95_000_000,
}  # auto prefers WavLM


@dataclass
class VerbPlan:
    """Predicted peak memory of one verb on one device, by part, in bytes."""

    verb: str
    device: str  # "GPU" or "CPU"
    parts: list[tuple[str, int]]
    budget: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def live(self) -> int:
        return sum(size for _, size in self.parts)

    @property
    def total(self) -> int:
        if self.device == "CPU":
            return self.live
        return int(self.live * (1 + FRAGMENTATION)) + CUDA_CONTEXT_BYTES

    @property
    def fits(self) -> bool | None:
        return None if self.budget is None else self.total <= self.budget

    def report(self) -> str:
        width = max(len(name) for name, _ in self.parts)
        lines = [f"{self.verb} ({self.device}):"]
        lines += [f"  {name:<{width}}  {size / GIB:6.2f} GiB" for name, size in self.parts]
        if self.device == "GPU":
            lines.append(
                f"  {'CUDA context + allocator slack':<{width}}  {(self.total - self.live) / GIB:6.2f} GiB"
            )
        verdict = ""
        if self.budget is not None:
            verdict = f": {'fits' if self.fits else 'does NOT fit'} in {self.budget / GIB:.1f} GiB"
        lines.append(f"  {'predicted peak':<{width}}  {self.total / GIB:6.2f} GiB{verdict}")
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


def speech_plan(
    model: Any, quantization: str, lora_params: int = 0, budget: int | None = None, device: str = "GPU"
) -> VerbPlan:
    """`speak` with `model` (a ModelConfig): "none" = the full-precision base, "nf4" = the 4-bit base, each
    with the adapter (`lora_params` fp32 weights) applied unmerged (`adapter.fit.load_for_speech`)."""
    from higgs_lora.planning.sizes import architecture, meta_model, predicted_weight_bytes

    config = architecture(model)
    act = compute_bytes(model, device)
    weights = predicted_weight_bytes(
        meta_model(config), quantization, model.double_quant, act, config.backend.full_precision_modules
    )
    parts = [(f"base weights ({quantization})", weights)]
    if lora_params:
        parts.append(("LoRA weights (unmerged)", lora_params * 4))
    parts += generation_parts(model, config, act)
    return VerbPlan(f"speak --quantization {quantization}", device, parts, budget)


def generation_parts(model: Any, config: Any, act: int) -> list[tuple[str, int]]:
    """What generating speech holds besides the weights: static KV caches, the audio tokenizer, and the
    prompt's forward pass (its full-vocabulary logits dominate)."""
    text = config.text_config
    # One extra KV layer per dual-FFN layer (speak.Speaker sizes them as boson's serve engine does).
    layers = text.num_hidden_layers + len(config.audio_dual_ffn_layers or [])
    head_dim = text.hidden_size // text.num_attention_heads
    kv = 2 * layers * text.num_key_value_heads * head_dim * sum(KV_CACHE_LENGTHS) * act
    frames_per_second, tokenizer_bytes = audio_tokenizer_facts(model)
    prompt = (
        TEXT_TOKENS_FIXED
        + math.ceil(REFERENCE_SECONDS * (frames_per_second + TEXT_TOKENS_PER_SECOND))
        + config.audio_num_codebooks
    )
    # The prompt's forward returns [1, L, vocab] text logits; generation then holds about 1.5 more
    # copies of that size (profiled on CPU: 2.5 fp32-sized copies at the peak, counted as such for
    # every dtype), next to one layer's activations (~7 x hidden + 4 x intermediate per token).
    logits = int(prompt * text.vocab_size * 4 * LOGITS_COPIES)
    activations = prompt * (7 * text.hidden_size + 4 * text.intermediate_size) * act
    return [
        (f"static KV caches ({' + '.join(map(str, KV_CACHE_LENGTHS))} positions)", kv),
        ("audio tokenizer", tokenizer_bytes),
        (f"prompt forward ({prompt} tokens: logits, one layer)", logits + activations),
    ]


def merge_plan(model: Any, lora_params: int, dtype_bytes: int, budget: int | None, device: str) -> VerbPlan:
    """`merge`: the base in `dtype_bytes` floats (fp32, 4, as merge works; never 4-bit), the adapter, and
    either loading (one checkpoint shard read beside the weights, in RAM) or the numeric check,
    whichever is larger."""
    from higgs_lora.planning.sizes import architecture, meta_model, predicted_weight_bytes

    config = architecture(model)
    weights = predicted_weight_bytes(meta_model(config), "none", False, dtype_bytes, [])
    text = config.text_config
    # merge.probe_batch through the model three times (base, adapted, merged): the adapted outputs are
    # kept while the others are computed, each difference taken in place; the forward's own buffers
    # come on top (~1 copy).
    probe = PROBE_COPIES * PROBE_TOKENS * (text.vocab_size + config.audio_num_codebooks * 1026) * 4
    parts = [
        (f"base weights ({dtype_bytes * 8}-bit floats)", weights),
        ("LoRA weights", lora_params * dtype_bytes),
    ]
    if device == "CPU":  # the checkpoint is read on the host; a GPU merge moves it over afterwards
        shard = min(weights, SHARD_BYTES)
        parts.append(("loading (one checkpoint shard) or the probe check", max(shard, probe)))
    else:
        parts.append(("probe outputs, adapted and merged", probe))
    return VerbPlan(f"merge --device {device.lower()}", device, parts, budget)


def scoring_bytes(config: Any) -> int:
    """What `[eval]` (an EvalConfig) keeps on the GPU between evaluations: Whisper in fp16 (the GPU
    default, or the one named; the largest when unknown) and the speaker encoder in fp32."""
    from higgs_lora.asr import DEFAULT_GPU_MODEL

    asr = DEFAULT_GPU_MODEL if config.asr == "auto" else config.asr
    whisper = WHISPER_PARAMS.get(asr, max(WHISPER_PARAMS.values())) * 2
    return whisper + SPEAKER_ENCODER_PARAMS.get(config.speaker_model, 95_000_000) * 4


def audio_tokenizer_facts(model: Any) -> tuple[float, int]:
    """(frames per second, bytes of its weights) of the recipe's audio tokenizer, from the tokenizer's
    own config: its constructor built on the meta device by the backend."""
    from higgs_lora.backends import backend_for

    return _audio_tokenizer_facts(backend_for(model), model.audio_tokenizer, model.audio_tokenizer_revision)


@functools.lru_cache(maxsize=8)
def _audio_tokenizer_facts(backend: Any, name: str, revision: str | None) -> tuple[float, int]:
    from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, TINY, canonical

    if name == TINY:
        return backend.tiny_audio_tokenizer_facts()
    from higgs_lora.core.errors import ModelError
    from higgs_lora.core.hub import read_config

    official = canonical(name) == AUDIO_TOKENIZER_ID
    try:  # the official tokenizer is read from the cache only: planning never waits on the network
        config = read_config(name, revision, "[model] audio_tokenizer", cached_only=official)
    except ModelError:
        if not official:
            raise
        return FALLBACK_AUDIO_TOKENIZER["frames_per_second"], FALLBACK_AUDIO_TOKENIZER["bytes"]
    return backend.audio_tokenizer_facts(config)


def plan_verbs(recipe: Any, budget: int | None = None) -> list[VerbPlan]:
    """`speak` in both quantizations and `merge` on GPU and CPU, for the adapter `recipe` trains, with
    what the kit will choose on a card of `budget` bytes."""
    from higgs_lora.planning.sizes import architecture, count_lora_params, meta_model

    model = recipe.model
    lora_params = count_lora_params(meta_model(architecture(model)), recipe)
    full = speech_plan(model, "none", lora_params, budget)
    nf4 = speech_plan(model, "nf4", lora_params, budget)
    if budget is not None and not full.fits:
        verdict = "fits" if nf4.fits else "does not fit either: lower [lora] r or free the GPU"
        full.notes.append(f"speak picks --quantization nf4 on this card by itself ({verdict})")
    merge_gpu = merge_plan(model, lora_params, 4, budget, "GPU")  # merge works in fp32 (verbs.merge)
    merge_cpu = merge_plan(model, lora_params, 4, None, "CPU")
    if budget is not None and not merge_gpu.fits:
        merge_gpu.notes.append(
            f"merge runs on CPU by itself on this card (--device cpu): {merge_cpu.total / GIB:.1f} GiB of RAM"
        )
    return [full, nf4, merge_gpu, merge_cpu]


def speech_quantization(config: Any, runtime: Any) -> str:
    """ "none" where full-precision generation fits (always on CPU), else "nf4" (from `plan`'s estimate)."""
    if not runtime.cuda:
        return "none"
    import torch

    free, _ = torch.cuda.mem_get_info(runtime.device)
    needed = speech_plan(config, "none").total
    if needed <= free:
        return "none"
    print(
        f"speak: full-precision generation needs ~{needed / 2**30:.1f} GiB, the GPU has "
        f"{free / 2**30:.1f} GiB free: using the 4-bit base with the adapter unmerged (--quantization nf4)."
    )
    return "nf4"
