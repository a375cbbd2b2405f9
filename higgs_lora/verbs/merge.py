"""`merge`: fold an adapter into full-precision base weights → a checkpoint boson-multimodal loads as-is.

Never merges into 4-bit weights (the rounding would be baked in). The base is loaded once, in fp32
whatever the output dtype (the merge check needs exact arithmetic; docs/merging.md says why): on a
probe batch the outputs are taken with the adapter disabled (the base) and applied (adapted), the
adapter is merged in place (peak memory stays near one copy of the model) and the weights are rounded
to the output dtype, and the same probe is run again (merged). The check is the share of the adapter's
effect the merged weights keep, 1 - ‖merged - adapted‖ / ‖adapted - base‖ over the audio logits
(text logits recorded beside it): below `min_kept` nothing is written. The result is saved as sharded
safetensors with config, text-tokenizer files and a record of the check and of the audio tokenizer to use.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from higgs_lora.conversion.cards import merged_card
from higgs_lora.conversion.files import convert_checkpoint_folder
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.fileio import swap_in_folder

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
DEFAULT_DTYPE = "fp32"
# A real run's adapter moves each weight by ~1e-3 to 1e-2 of its norm, about one bf16 step: bf16 keeps
# ~35-40% of its effect, fp16 ~90%, fp32 all of it (docs/merging.md, measured on both backends).
MIN_KEPT = 0.9
REPORT = "higgs_lora_merge.json"


class MergeMismatchError(HiggsLoraError):
    """The merged weights keep less of the adapter's effect than `min_kept`: nothing was written."""


@dataclass
class MergeResult:
    out: Path
    base: str
    base_revision: str | None
    audio_tokenizer: str
    audio_tokenizer_revision: str | None
    system_prompt: str
    dtype: str
    kept: float
    """Share of the adapter's effect on the probe's audio logits the merged weights keep (1.0: all)."""
    kept_text: float
    """The same over the text logits."""
    min_kept: float
    max_abs_diff: float
    """max |merged - adapted| over the probe's logits (fp32 arithmetic), for reference."""
    peak_memory_bytes: int


def merge(
    adapter_dir: str | Path,
    *,
    out: str | Path | None = None,
    base: str | None = None,
    dtype: str = DEFAULT_DTYPE,
    device: str = "auto",
    force: bool = False,
    trust_pickle: bool = False,
    layout: str | None = None,
    min_kept: float = MIN_KEPT,
) -> MergeResult:
    """Merge `adapter_dir` into its base (or `base`), save a full checkpoint in `dtype` to `out`.

    `dtype` "fp32" (default) keeps all of the adapter; "fp16"/"bf16" halve the checkpoint and are written
    only if the rounded weights keep at least `min_kept` of the adapter's effect on the probe (0 writes
    whatever they keep; a warning is printed below 0.9).

    `layout`: "boson" (boson-multimodal's HiggsAudioModel) or "native" (transformers ≥ 5.3's
    HiggsAudioV2ForConditionalGeneration); default: the layout of the backend that merges. The other
    layout is the checked checkpoint with renamed keys and config.

    `device`: "cuda", "cpu", or "auto": the GPU when `plan` predicts the fp32 model fits its free
    memory, else the CPU (slower, needs the same amount of RAM)."""
    import torch

    from higgs_lora.adapter.fit import load_trained
    from higgs_lora.adapter.setup import adapter_setup
    from higgs_lora.core.licenses import license_notice
    from higgs_lora.model.load import load_text_tokenizer
    from higgs_lora.training.report import peak_memory_bytes

    if dtype not in DTYPES:
        raise HiggsLoraError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}.")
    if layout not in (None, "boson", "native"):
        raise HiggsLoraError(f"--layout {layout!r}: choose boson or native.")
    if not 0 <= min_kept <= 1:
        raise HiggsLoraError(f"--min-kept {min_kept}: a share between 0 and 1 (default {MIN_KEPT}).")
    adapter_dir = Path(adapter_dir)
    # Full precision, fp32 whatever the output dtype, at the revisions the adapter was trained on.
    setup = adapter_setup(
        adapter_dir, base, trust_pickle=trust_pickle, quantization="none", compute_dtype="float32"
    )
    model_config = setup.model
    out = Path(out) if out is not None else adapter_dir / "merged"
    if out.exists() and any(out.iterdir()) and not force:
        raise OutputExistsError(f"{out} already exists. Pass --force to replace it, or choose another --out.")
    runtime = merge_runtime(device, model_config, adapter_dir)
    adapted_model = load_trained(setup, runtime, trust_pickle=trust_pickle)  # shim class, fp32
    model = adapted_model.get_base_model()
    text_tokenizer = load_text_tokenizer(model_config)
    backend = setup.backend
    if backend.layout == "higgs3" and layout not in (None, "higgs3"):
        raise HiggsLoraError(f"--layout {layout}: a Higgs TTS 3 adapter merges only into its own layout.")
    layout = layout or backend.layout
    notice = license_notice(backend.name)  # Higgs TTS 3: the merged model inherits the base's license
    if notice is not None:
        print(notice, flush=True)
    random_head = _random_text_head(backend, model, model_config.base, layout)
    probe = backend.probe_batch(model.config, text_tokenizer, model.device)
    with torch.no_grad(), exact_float32():
        # The adapted forward first, with nothing else alive: a LoRA on the text head holds extra
        # full-vocabulary copies while it runs.
        adapted = _outputs(model, probe)  # LoRA layers active, unmerged
        with adapted_model.disable_adapter():
            base_outputs = _outputs(model, probe)
        # One temporary per pair, reused in place: with full-vocabulary logits these copies are not small.
        effect = [float(b.sub_(a).norm()) for b, a in zip(base_outputs, adapted, strict=True)]
        del base_outputs
        merged_model = adapted_model.merge_and_unload()
        _round_to(merged_model, getattr(torch, DTYPES[dtype]))
        differences = [m.sub_(a) for m, a in zip(_outputs(merged_model, probe), adapted, strict=True)]
    del adapted
    kept_text, kept = (_kept(float(d.norm()), e) for d, e in zip(differences, effect, strict=True))
    max_abs_diff = float(max(d.abs_().max() for d in differences))
    del differences
    print(
        f"merge check ({dtype}): the merged weights keep {kept:.1%} of the adapter's effect on the audio "
        f"logits, {kept_text:.1%} on the text logits (max |merged - adapted| = {max_abs_diff:.3g})"
    )
    if kept < min_kept:
        raise MergeMismatchError(
            f"merging into {dtype} keeps only {kept:.0%} of the adapter's effect on the audio logits "
            f"(below --min-kept {min_kept:g}): {dtype} rounds away weight changes under half its step, and a "
            f"trained adapter's are about that size. Nothing was written. Use --dtype fp32 (keeps all of it), "
            "or speak with the adapter unmerged (higgs-lora speak --adapter ...)."
        )
    if kept < MIN_KEPT:
        print(
            f"warning: writing a {dtype} merge that keeps only {kept:.0%} of the adapter's effect (--min-kept)"
        )

    result = MergeResult(
        out,
        model_config.base,
        model_config.revision,
        model_config.audio_tokenizer,
        model_config.audio_tokenizer_revision,
        setup.system_prompt,
        dtype,
        kept,
        kept_text,
        min_kept,
        max_abs_diff,
        0,
    )
    merged_model.to(getattr(torch, DTYPES[dtype]))  # values already rounded: the cast is exact
    _save(merged_model, text_tokenizer, out, result, adapter_dir, force, layout, backend, random_head)
    result.peak_memory_bytes = peak_memory_bytes(model.device)
    print(
        f"merged {adapter_dir} into {model_config.base} → {out} ({dtype}, keeps {kept:.1%} of the adapter; "
        f"peak memory {result.peak_memory_bytes / 2**30:.2f} GiB)"
    )
    return result


def _kept(difference: float, effect: float) -> float:
    """1 - ‖merged - adapted‖ / ‖adapted - base‖; an adapter that changes nothing loses nothing."""
    if effect == 0:
        return 1.0 if difference == 0 else 0.0
    return 1.0 - difference / effect


def _round_to(model: Any, dtype: Any) -> None:
    """Round every floating parameter to `dtype`'s values in place, keeping fp32 storage, so the probe
    runs the weights that will be written in exact arithmetic (a cast is a single rounding of W + ΔW)."""
    import torch

    if dtype == torch.float32:
        return
    for parameter in model.parameters():
        if parameter.is_floating_point():
            parameter.data.copy_(parameter.data.to(dtype))


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """fp32 matmuls without TF32 (Ampere+ GPUs): its 10-bit mantissa would blur an effect of ~1e-3."""
    import torch

    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
        torch.set_float32_matmul_precision(precision)


def merge_runtime(device: str, model_config: Any, adapter_dir: Path) -> Any:  # -> Runtime
    """Where to merge (always in fp32): as asked, or ("auto") on the GPU only when it fits its free memory."""
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
                f"merge: the model in {model_config.compute_dtype} needs ~{needed / 2**30:.1f} GiB, the GPU has "
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
