"""Whether an adapter fits a base (from shapes alone, no weights loaded), and loading it onto that base."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from higgs_lora.adapter.files import PICKLED_WEIGHTS, adapter_config
from higgs_lora.adapter.setup import TrainedSetup, adapter_setup
from higgs_lora.core.errors import ModelError
from higgs_lora.higgs.layouts import ADAPTER_CONFIG, ADAPTER_WEIGHTS

_LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


def _weight_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    if (folder / ADAPTER_WEIGHTS).is_file():
        with safe_open(str(folder / ADAPTER_WEIGHTS), "pt") as weights:
            return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}  # noqa: SIM118
    import torch  # only reached for a pickle the user chose to trust

    pickled = next(folder / name for name in PICKLED_WEIGHTS if (folder / name).is_file())
    return {key: tuple(value.shape) for key, value in torch.load(pickled, map_location="cpu").items()}


def check_fits(adapter_dir: str | Path, setup: TrainedSetup, trust_pickle: bool = False) -> None:
    """Refuse, naming what differs, an adapter whose modules, shapes or rank the setup's base does not have.

    Works from the base's config on the meta device: no weights are loaded.
    """
    from torch import nn

    from higgs_lora.core.hub import read_config
    from higgs_lora.model.load import resolve_base

    folder = Path(adapter_dir)
    config = adapter_config(folder, trust_pickle)
    base = setup.model
    backend = setup.backend
    if (folder / ADAPTER_WEIGHTS).is_file():
        from higgs_lora.conversion.adapters import adapter_layout

        found = adapter_layout(folder)
        if found != backend.layout:
            raise ModelError(
                f"adapter {folder} is in the {found} layout; the {backend.name} backend loads the "
                f"{backend.layout} layout. Convert it: higgs-lora convert {folder} --to {backend.layout}"
            )
    base_config = setup.base_config or read_config(resolve_base(base), base.revision, "base")
    model = backend.meta_model(base_config)
    modules = dict(model.named_modules())
    problems: list[str] = []
    shapes = _weight_shapes(folder)
    for key, shape in sorted(shapes.items()):
        match = _LORA_KEY.match(key)
        if match is None:
            continue
        name, part = match["module"], match["part"]
        module = modules.get(name)
        if not isinstance(module, nn.Linear):
            problems.append(f"targets {name}, which base {base.base!r} does not have as a Linear layer")
            continue
        expected = (shape[0], module.in_features) if part == "A" else (module.out_features, shape[1])
        if shape != expected:
            problems.append(f"{name}.lora_{part} has shape {list(shape)}, base needs {list(expected)}")
        rank = shape[0] if part == "A" else shape[1]
        configured = config.get("rank_pattern", {}).get(name, config.get("r"))
        if configured is not None and rank != configured:
            problems.append(f"{name} has rank {rank}, but {ADAPTER_CONFIG} says r={configured}")
    if not any(_LORA_KEY.match(key) for key in shapes):
        problems.append("the adapter weights hold no LoRA tensors")
    if problems:
        unique = list(dict.fromkeys(problems))
        shown = "\n  ".join(unique[:6])
        more = f"\n  ... and {len(unique) - 6} more" if len(unique) > 6 else ""
        raise ModelError(f"adapter {folder} does not fit base {base.base!r}:\n  {shown}{more}")


def load_adapter(
    adapter_dir: str | Path,
    *,
    base: str | None = None,
    quantization: str = "none",
    dtype: Any = None,
    is_trainable: bool = False,
    trust_pickle: bool = False,
) -> Any:  # -> PeftModel
    """The base named in the adapter's config (or `base`), with the labels shim under PEFT's wrapper.

    `quantization` defaults to "none": inference and merging want full-precision base weights; pass
    "nf4" to reproduce the 4-bit training setup exactly. `dtype` (a torch dtype) defaults to bf16 on
    CUDA, fp32 on CPU. Pickled weights (adapter_model.bin) load only with `trust_pickle`.
    """
    compute = str(dtype).removeprefix("torch.") if dtype is not None else "auto"
    adapter_config(adapter_dir, trust_pickle)
    setup = adapter_setup(adapter_dir, base, quantization=quantization, compute_dtype=compute)
    return load_trained(setup, is_trainable=is_trainable, trust_pickle=trust_pickle)


def load_trained(
    setup: TrainedSetup, runtime: Any = None, is_trainable: bool = False, trust_pickle: bool = False
) -> Any:  # -> PeftModel
    """The adapter of a resolved setup on the base it names, loaded as the setup says (`runtime`: where)."""
    from peft import PeftModel

    from higgs_lora.model.load import load_base_model

    if setup.adapter is None:
        raise ValueError("load_trained needs a setup resolved from an adapter folder (adapter_setup)")
    check_fits(setup.adapter, setup, trust_pickle)
    model = load_base_model(setup.model, runtime)
    return PeftModel.from_pretrained(model, str(setup.adapter), is_trainable=is_trainable)


def load_for_speech(setup: TrainedSetup, trust_pickle: bool = False) -> Any:
    """The model of a `speech_setup`, ready to generate: a merged folder as it is; an adapter applied
    unmerged on its base (4-bit or full precision), as training and eval run it.

    Merging into bf16/fp16 weights would round most of a trained adapter away (its weight changes are
    about one bf16 step: docs/merging.md), so a full-precision adapter is folded in only where the base
    is fp32 (on CPU by default): there the merge is exact and generation 15-25% faster."""
    import torch

    from higgs_lora.model.load import load_base_model, pick_runtime

    if setup.adapter is None:
        return load_base_model(setup.model, setup.runtime).eval()
    runtime = setup.runtime or pick_runtime(setup.model)
    peft_model = load_trained(setup, runtime, trust_pickle=trust_pickle)
    if setup.model.quantization == "none" and runtime.compute_dtype == torch.float32:
        return peft_model.merge_and_unload().eval()
    return peft_model.get_base_model().eval()  # the LoRA layers stay, beside the base weights
