"""`plan`: predict a recipe's peak GPU memory before loading any weight, and say what to change.

The model is built on the meta device from its config. Weights are counted exactly as bitsandbytes
and transformers will hold them (4-bit packing, quantization scales, full-precision heads and
embeddings); `loaded_weight_bytes` measures a loaded model the same way, and tests check the two
agree to the byte. Activations, logits and allocator overhead are estimates with their reasoning
next to each number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from higgs_lora.core.schema import Recipe
from higgs_lora.planning.sizes import (
    CUDA_CONTEXT_BYTES,
    FRAGMENTATION,
    GIB,
    TEXT_TARGETS_PER_SAMPLE,
    TEXT_TOKENS_FIXED,
    TEXT_TOKENS_PER_SECOND,
    architecture,
    compute_bytes,
    count_lora_params,
    meta_model,
    parse_bytes,
    predicted_weight_bytes,
)


@dataclass
class MemoryPlan:
    """Predicted peak memory of one training step, by part, in bytes."""

    weights: int
    lora: int
    gradients: int
    optimizer: int
    activations: int
    recompute: int
    logits: int
    checkpointed_step_peak: int
    overhead: int
    tokens: int
    gradient_checkpointing: bool
    budget: int | None = None
    suggestions: list[str] = field(default_factory=list)
    checkpoint_bytes: int = 0  # the base checkpoint's size on disk (bf16 safetensors), for downloads
    listening_resident: int = 0  # [samples]: KV caches and audio tokenizer, kept between samplings
    listening_transient: int = 0  # [samples]: the prompt's forward, between training steps
    judging_resident: int = 0  # [eval]: the Whisper and speaker-encoder weights, kept between evaluations

    @property
    def step_peak(self) -> int:
        """Logits and a recomputed layer are never alive together: the loss is done before backward
        reaches the first checkpointed layer."""
        return self.activations + max(self.logits, self.recompute)

    @property
    def step(self) -> int:
        """What one training step allocates on top of the weights and the optimizer state."""
        return self.gradients + self.step_peak

    @property
    def total(self) -> int:
        # Listening ([samples]) runs between steps: its prompt forward never overlaps a step's
        # activations, but its caches and audio tokenizer stay resident through training.
        busiest = max(self.step, self.listening_transient)
        live = (
            self.weights
            + self.lora
            + self.optimizer
            + self.listening_resident
            + self.judging_resident
            + busiest
        )
        return int(live * (1 + FRAGMENTATION)) + self.overhead

    @property
    def fits(self) -> bool | None:
        return None if self.budget is None else self.total <= self.budget

    def report(self) -> str:
        rows = [
            ("base weights", self.weights),
            ("LoRA weights", self.lora),
            ("LoRA gradients", self.gradients),
            ("optimizer state", self.optimizer),
            (f"activations ({self.tokens} tokens, checkpointing {'on' if self.gradient_checkpointing else 'off'})",
             self.activations),
            ("logits + loss" + (" (or one recomputed layer)" if self.recompute else ""),
             max(self.logits, self.recompute)),
        ]  # fmt: skip
        if self.listening_resident:
            rows.append(("speaking ([samples]/[eval]: KV caches, audio tokenizer)", self.listening_resident))
            extra = max(self.step, self.listening_transient) - self.step
            rows.append(("speaking: prompt forward beyond a step's peak", extra))
        if self.judging_resident:
            rows.append(("[eval] scoring (Whisper, speaker encoder)", self.judging_resident))
        rows.append(("CUDA context + allocator slack", self.total - sum(size for _, size in rows)))
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name:<{width}}  {value / GIB:6.2f} GiB" for name, value in rows]
        lines.append(f"  {'predicted peak':<{width}}  {self.total / GIB:6.2f} GiB")
        if self.budget is not None:
            verdict = "fits" if self.fits else "does NOT fit"
            lines.append(f"  {verdict} in {self.budget / GIB:.1f} GiB")
        lines += [f"  - {s}" for s in self.suggestions]
        return "\n".join(lines)


def plan(
    recipe: Recipe,
    gpu_memory: str | int | None = None,
    ref_seconds: float | None = None,
    shape: SampleShape | None = None,
) -> MemoryPlan:
    """Predict peak GPU memory of training `recipe` on a batch of its longest allowed samples.

    `ref_seconds` is the reference clip length for voice-cloning recipes (default: max_seconds);
    `shape` replaces the longest allowed sample with a measured one (benchmarks/plan_check.py).
    """
    config = architecture(recipe.model)
    model = meta_model(config)
    weight_bytes = predicted_weight_bytes(
        model,
        recipe.model.quantization,
        recipe.model.double_quant,
        compute_bytes(recipe.model),
        config.backend.full_precision_modules,
    )
    lora_params = count_lora_params(model, recipe)
    optimizer_bytes_per_param = 8 if recipe.train.optimizer == "adamw" else 2  # two fp32 or two 8-bit moments
    shape = shape or sample_shape(recipe, config, ref_seconds)
    parts = _activation_parts(recipe, config, model, shape)
    result = MemoryPlan(
        weights=weight_bytes,
        lora=lora_params * 4,
        gradients=lora_params * 4,
        optimizer=lora_params * optimizer_bytes_per_param,
        activations=parts.saved,
        recompute=parts.recompute,
        logits=parts.logits,
        checkpointed_step_peak=parts.checkpointed_peak,
        overhead=CUDA_CONTEXT_BYTES,
        tokens=shape.tokens * recipe.train.batch_size,
        gradient_checkpointing=recipe.train.gradient_checkpointing,
        budget=parse_bytes(gpu_memory) if gpu_memory is not None else None,
    )
    if recipe.eval.every_steps:
        from higgs_lora.planning.inference import scoring_bytes

        result.judging_resident = scoring_bytes(recipe.eval)
    if recipe.samples.every_steps or recipe.eval.every_steps:  # one Speaker shared by both
        from higgs_lora.planning.inference import generation_parts

        parts = dict(generation_parts(recipe.model, config, compute_bytes(recipe.model)))
        result.listening_transient = parts.pop(next(k for k in parts if k.startswith("prompt forward")))
        result.listening_resident = sum(parts.values())
    result.suggestions = _suggestions(result, recipe)
    result.checkpoint_bytes = sum(p.numel() for p in model.parameters()) * 2  # stored in bf16
    return result


@dataclass(frozen=True)
class SampleShape:
    """One sample as the decoder sees it: positions after audio expansion, and audio-out frames."""

    tokens: int
    audio_frames: int


def sample_shape(recipe: Recipe, config: Any, ref_seconds: float | None = None) -> SampleShape:
    """The longest allowed sample of `recipe`: its target and, when cloning, its reference clip."""
    clips = [recipe.data.max_seconds]
    if recipe.data.reference != "none":
        clips.append(recipe.data.max_seconds if ref_seconds is None else ref_seconds)
    frames_per_second = _audio_frames_per_second(recipe)
    # Each clip: its frames + stream BOS/EOS + (codebooks - 1) of delay pattern, and its transcript.
    frames = sum(math.ceil(s * frames_per_second) + 2 + config.audio_num_codebooks - 1 for s in clips)
    text = TEXT_TOKENS_FIXED + sum(math.ceil(s * TEXT_TOKENS_PER_SECOND) for s in clips)
    return SampleShape(tokens=math.ceil((frames + text) / 8) * 8, audio_frames=frames)  # collator pads to 8


@dataclass(frozen=True)
class _Activations:
    saved: int  # kept from forward to backward: every layer's tensors, or only layer inputs
    recompute: int  # one checkpointed layer re-run during backward (0 without checkpointing)
    logits: int  # text and audio logits with the loss's buffers, alive around the loss only
    checkpointed_peak: int  # the step's peak were checkpointing on


def _activation_parts(recipe: Recipe, config: Any, model: Any, shape: SampleShape) -> _Activations:
    batch = recipe.train.batch_size
    tokens = shape.tokens * batch
    hidden = config.text_config.hidden_size
    intermediate = config.text_config.intermediate_size
    layers = config.text_config.num_hidden_layers
    act = compute_bytes(recipe.model)
    # Saved for backward per token and layer (counted on the proxy with saved-tensor hooks): the
    # residual input, norm output, q/k/v, attention output and o_proj input (~7 x hidden); gate, up,
    # activation and product of the FFN (4 x intermediate). LoRA dropout adds to each adapted linear
    # its dropped-out input and a one-byte mask.
    per_token = (7 * hidden + 4 * intermediate) * act + _dropout_inputs(model, recipe) * (act + 1)
    per_layer = per_token * tokens
    mask = batch * shape.tokens**2 * act  # the [B, 1, L, L] attention mask every layer reads
    layer_inputs = tokens * hidden * act * layers + mask
    vocab = config.text_config.vocab_size
    audio_width = config.audio_num_codebooks * (config.audio_codebook_size + 2)
    # The text head runs only on the few labelled rows (model/lean.py). Audio logits are upcast to
    # float32 by the model; around the loss's backward three float32 copies are alive at once (the
    # saved log-softmax and the two gradients it turns into), for text rows and audio frames alike.
    text = TEXT_TARGETS_PER_SAMPLE * batch * vocab * 4 * 3
    audio = shape.audio_frames * batch * audio_width * 4 * 3
    logits = text + audio
    # Backward through a recomputed layer also holds the gradient flowing in and the one flowing
    # out, and bitsandbytes dequantizes one 4-bit weight at a time for each matmul.
    recompute = per_layer + 2 * tokens * hidden * act + _largest_quantized_weight(model, recipe) * act
    checkpointed_peak = layer_inputs + max(logits, recompute)
    if recipe.train.gradient_checkpointing:
        return _Activations(layer_inputs, recompute, logits, checkpointed_peak)
    return _Activations(per_layer * layers + mask, 0, logits, checkpointed_peak)


def _largest_quantized_weight(model: Any, recipe: Recipe) -> int:
    from torch import nn

    from higgs_lora.backends import backend_of

    if recipe.model.quantization == "none":
        return 0
    first = backend_of(model).decoder_layers(model)[0]
    return max(m.weight.numel() for m in first.modules() if isinstance(m, nn.Linear))


def _dropout_inputs(model: Any, recipe: Recipe) -> int:
    """Input features of one layer's LoRA-adapted linears, each of which dropout copies (0 without)."""
    from higgs_lora.backends import backend_of
    from higgs_lora.model.lora import matching_modules, target_regex

    if recipe.lora.dropout == 0:
        return 0
    modules = dict(model.named_modules())
    first_layer = [
        n
        for n in matching_modules(model, target_regex(recipe.lora, backend_of(model).target_patterns))
        if ".layers.0." in f".{n}"
    ]
    return sum(modules[n].in_features for n in first_layer)


def _audio_frames_per_second(recipe: Recipe) -> float:
    """From the audio tokenizer itself (its sample rate over its hop), not from its name."""
    from higgs_lora.planning.inference import audio_tokenizer_facts

    return audio_tokenizer_facts(recipe.model)[0]


def _suggestions(result: MemoryPlan, recipe: Recipe) -> list[str]:
    if result.budget is None or result.fits:
        return []
    over = result.total - result.budget
    tips = []
    if not recipe.train.gradient_checkpointing:
        saved = (result.step_peak - result.checkpointed_step_peak) * (1 + FRAGMENTATION)
        tips.append(f"set [train] gradient_checkpointing = true (saves ~{saved / GIB:.1f} GiB)")
    if recipe.train.batch_size > 1:
        tips.append(
            f"lower [train] batch_size to 1 and raise grad_accumulation to {recipe.train.batch_size * recipe.train.grad_accumulation}"
        )
    per_second = result.step_peak / max(recipe.data.max_seconds, 1e-9)
    if per_second > 0:
        target = max(1.0, recipe.data.max_seconds - over / per_second * 1.2)
        tips.append(f"lower [data] max_seconds to about {target:.0f} (now {recipe.data.max_seconds:g})")
    if recipe.model.quantization == "none":
        tips.append('use [model] quantization = "nf4" (4-bit base)')
    if result.judging_resident:
        tips.append(
            f"score after training (higgs-lora eval) instead of [eval] every_steps (saves "
            f"~{result.judging_resident / GIB:.1f} GiB), or a smaller [eval] asr such as openai/whisper-small"
        )
    if result.listening_resident:
        tips.append(
            f"turn [samples]/[eval] off while training (saves ~{result.listening_resident / GIB:.1f} GiB)"
        )
    if recipe.lora.r > 16:
        tips.append(f"lower [lora] r from {recipe.lora.r} to 16")
    return tips
