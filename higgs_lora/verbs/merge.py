"""`merge`: fold an adapter into full-precision base weights → a checkpoint boson-multimodal loads as-is.

Never merges into 4-bit weights (the rounding would be baked in). The base is loaded once, in the
output dtype; outputs on a probe batch are taken with the adapter applied, the adapter is merged in
place (peak memory stays near one copy of the model), the same probe is run again and the two are
compared. Above the dtype's tolerance nothing is written. The result is saved as sharded safetensors
with config, text-tokenizer files and a record of the check and of the audio tokenizer to use.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from higgs_lora.conversion.cards import merged_card
from higgs_lora.conversion.files import convert_checkpoint_folder
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.fileio import swap_in_folder

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
# Largest |merged - adapted| accepted, relative to the largest |logit| on the probe (at least 1):
# fp32 differs only by summation order; bf16/fp16 round W + BA once more than the adapted path does.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2}
REPORT = "higgs_lora_merge.json"


class MergeMismatchError(HiggsLoraError):
    """Merged outputs differ from adapted outputs by more than the dtype allows."""


@dataclass
class MergeResult:
    out: Path
    base: str
    base_revision: str | None
    audio_tokenizer: str
    audio_tokenizer_revision: str | None
    system_prompt: str
    dtype: str
    max_abs_diff: float
    tolerance: float
    peak_memory_bytes: int


def merge(
    adapter_dir: str | Path,
    *,
    out: str | Path | None = None,
    base: str | None = None,
    dtype: str = "bf16",
    device: str = "auto",
    force: bool = False,
    trust_pickle: bool = False,
    layout: str | None = None,
) -> MergeResult:
    """Merge `adapter_dir` into its base (or `base`) in `dtype` and save a full checkpoint to `out`.

    `layout`: "boson" (boson-multimodal's HiggsAudioModel) or "native" (transformers ≥ 5.3's
    HiggsAudioV2ForConditionalGeneration); default: the layout of the backend that merges. The other
    layout is the checked checkpoint with renamed keys and config.

    `device`: "cuda", "cpu", or "auto": the GPU when `plan` predicts the full-precision model fits its
    free memory, else the CPU (slower, needs the same amount of RAM)."""
    import torch

    from higgs_lora.adapter.fit import load_trained
    from higgs_lora.adapter.setup import adapter_setup
    from higgs_lora.model.load import load_text_tokenizer
    from higgs_lora.training.report import peak_memory_bytes

    if dtype not in DTYPES:
        raise HiggsLoraError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}.")
    if layout not in (None, "boson", "native"):
        raise HiggsLoraError(f"--layout {layout!r}: choose boson or native.")
    adapter_dir = Path(adapter_dir)
    # Full precision in the output dtype, at the revisions the adapter was trained on.
    setup = adapter_setup(
        adapter_dir, base, trust_pickle=trust_pickle, quantization="none", compute_dtype=DTYPES[dtype]
    )
    model_config = setup.model
    out = Path(out) if out is not None else adapter_dir / "merged"
    if out.exists() and any(out.iterdir()) and not force:
        raise OutputExistsError(f"{out} already exists. Pass --force to replace it, or choose another --out.")
    runtime = merge_runtime(device, model_config, adapter_dir)
    adapted_model = load_trained(setup, runtime, trust_pickle=trust_pickle)  # shim class, output dtype
    model = adapted_model.get_base_model()
    text_tokenizer = load_text_tokenizer(model_config)
    backend = setup.backend
    layout = layout or backend.layout
    random_head = _random_text_head(backend, model, model_config.base, layout)
    probe = backend.probe_batch(model.config, text_tokenizer, model.device)
    with torch.no_grad():
        adapted = _outputs(adapted_model.get_base_model(), probe)  # LoRA layers active, unmerged
        merged_model = adapted_model.merge_and_unload()
        merged = _outputs(merged_model, probe)
    scale = max(1.0, float(max(t.abs().max() for t in adapted)))
    # One temporary per pair, reused in place: with full-vocabulary logits these copies are not small.
    max_abs_diff = float(max((a - m).abs_().max() for a, m in zip(adapted, merged, strict=True)))
    tolerance = TOLERANCE[dtype] * scale
    print(f"merge check: max |merged - adapted| = {max_abs_diff:.3g} (tolerance {tolerance:.3g}, {dtype})")
    if not max_abs_diff <= tolerance:
        raise MergeMismatchError(
            f"merged outputs differ from the adapter's by {max_abs_diff:.3g} (> {tolerance:.3g} allowed in "
            f"{dtype}); nothing was written. Try --dtype fp32."
        )

    result = MergeResult(
        out,
        model_config.base,
        model_config.revision,
        model_config.audio_tokenizer,
        model_config.audio_tokenizer_revision,
        setup.system_prompt,
        dtype,
        max_abs_diff,
        tolerance,
        0,
    )
    _save(merged_model, text_tokenizer, out, result, adapter_dir, force, layout, backend, random_head)
    result.peak_memory_bytes = peak_memory_bytes(model.device)
    print(
        f"merged {adapter_dir} into {model_config.base} → {out} (peak memory {result.peak_memory_bytes / 2**30:.2f} GiB)"
    )
    return result


def merge_runtime(device: str, model_config: Any, adapter_dir: Path) -> Any:  # -> Runtime
    """Where to merge: as asked, or ("auto") on the GPU only when the merge fits its free memory."""
    import torch

    from higgs_lora.model.load import Runtime

    dtype = getattr(torch, model_config.compute_dtype)
    if device not in ("auto", "cpu", "cuda"):
        raise HiggsLoraError(f"--device {device!r}: choose auto, cpu or cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise HiggsLoraError("--device cuda: no CUDA GPU is visible here. Use --device cpu.")
    if device == "cpu" or not torch.cuda.is_available():
        return Runtime(torch.device("cpu"), dtype)
    if device == "auto":
        from safetensors import safe_open

        from higgs_lora.higgs.layouts import ADAPTER_WEIGHTS
        from higgs_lora.planning.inference import merge_plan

        with safe_open(str(adapter_dir / ADAPTER_WEIGHTS), "pt") as weights:
            lora_params = sum(math.prod(weights.get_slice(k).get_shape()) for k in weights.keys())  # noqa: SIM118
        needed = merge_plan(model_config, lora_params, dtype.itemsize, None, "GPU").total
        free, _ = torch.cuda.mem_get_info()
        if needed > free:
            print(
                f"merge: the {model_config.compute_dtype} model needs ~{needed / 2**30:.1f} GiB, the GPU has "
                f"{free / 2**30:.1f} GiB free: merging on the CPU instead (--device cpu)."
            )
            return Runtime(torch.device("cpu"), dtype)
    return Runtime(torch.device("cuda", torch.cuda.current_device()), dtype)


def _outputs(model: Any, probe: dict[str, Any]) -> tuple[Any, Any]:
    out = model(**probe)
    return out.logits.float(), out.audio_logits.float()


def _save(
    model: Any,
    text_tokenizer: Any,
    out: Path,
    result: MergeResult,
    adapter_dir: Path,
    force: bool,
    layout: str,
    backend: Any,
    leave_out: str | None = None,
) -> None:
    """Write into a staging folder beside `out`, then swap it in: a failure leaves `out` as it was.
    `leave_out`: a module whose weights are not saved (a random text head)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the checkpoint is an ordinary folder
    try:
        state = None
        if leave_out is not None:
            state = {k: v for k, v in model.state_dict().items() if not k.startswith(f"{leave_out}.")}
        model.save_pretrained(staging, state_dict=state, safe_serialization=True, max_shard_size="2GB")
        # The shim subclass is a training device; the checkpoint is of the backend's plain model class.
        _edit_config(staging, architectures=[backend.model_class().__name__])
        if layout != backend.layout:  # the checked weights, renamed (higgs_lora.higgs.layouts)
            convert_checkpoint_folder(staging, to=layout)
        # Loading for training switched the KV cache off (model.load); whoever loads this checkpoint
        # generates with it, and `generate` takes its default from here.
        _edit_config(staging, use_cache=True)
        text_tokenizer.save_pretrained(staging)
        record = {**asdict(result), "out": str(out), "adapter": str(adapter_dir.resolve()), "layout": layout}
        record.pop("peak_memory_bytes")
        (staging / REPORT).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(merged_card(layout, result, adapter_dir), encoding="utf-8")
        if out.exists() and not force:
            raise OutputExistsError(f"{out} appeared while merging; nothing replaced.")
        swap_in_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _random_text_head(backend: Any, model: Any, base: str, layout: str) -> str | None:
    """The name of the base's text head when it is random (its checkpoint holds no weights for it), else
    None. Its noise is not written into the merge: the merged checkpoint lacks the head as its base did,
    so training on it again leaves the text term out too. boson-multimodal generates text tokens with
    that head, so a boson-layout merge of such a base is refused."""
    if not backend.random_text_head(model):
        return None
    if layout == "boson":
        raise HiggsLoraError(
            f"{base} has no text_lm_head weights (its text head is random), and boson-multimodal generates "
            "with that head: a boson-layout merge would speak through noise. Merge with --layout native."
        )
    head = backend.text_head(model)
    name = next(name for name, module in model.named_modules() if module is head)
    print(f"merge: {base} has no text_lm_head weights; the merged checkpoint leaves the random head out too.")
    return name


def _edit_config(folder: Path, **fields: Any) -> None:
    """Set top-level fields of `folder`/config.json."""
    file = folder / "config.json"
    config = json.loads(file.read_text(encoding="utf-8"))
    config.update(fields)
    file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
