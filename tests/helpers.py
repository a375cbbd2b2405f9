"""Helpers the tests share: clip writers and a small recipe over the shipped smoke data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SMOKE_DATA = REPO / "data" / "smoke"


def write_clip(
    path: Path, seconds: float = 1.0, sample_rate: int = 22050, channels: int = 1, seed: int = 0
) -> Path:
    """A speech-like test clip: a few harmonics with a wobble, plus a little noise."""
    import soundfile

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 3 * t) + 10 * seed
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2 + rng.normal(0, 0.01, t.size)
    samples = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples.astype(np.float32), sample_rate)
    return path


def smoke_recipe(
    folder: Path, cache_dir: Path, extra: str = "", train: str = "", name: str = "t", model: str = ""
) -> Path:
    """A recipe over a copy of the shipped smoke data, small enough for a test."""
    data = folder / "smoke-data"
    if not data.exists():
        shutil.copytree(SMOKE_DATA, data, ignore=shutil.ignore_patterns(".higgs-lora-cache"))
    recipe = folder / "recipe.toml"
    recipe.write_text(
        f"""name = "{name}"
output_dir = "{folder / "adapters"}"

[model]
base = "tiny-random"
audio_tokenizer = "tiny-random"
{model}

[lora]
r = 8
alpha = 16
dropout = 0.0
targets = ["attention", "audio_ffn", "heads"]

[data]
path = "smoke-data"
cache_dir = "{cache_dir}"
reference = "same_speaker"
eval_fraction = 0.0
{extra}

[train]
batch_size = 1
grad_accumulation = 1
learning_rate = 3e-3
warmup_steps = 0
gradient_checkpointing = false
log_steps = 1
seed = 3
{train}
""",
        encoding="utf-8",
    )
    return recipe


def synthetic_batch(folder: Path, text_tokenizer, with_reference: bool = True, seed: int = 0):
    """A real collated batch (two samples, one with a reference clip) from random codes on disk.

    Returns (batch, frames) where frames lists the code tensors in audio-out order.
    """
    backend = installed_backend()
    samples, frames = synthetic_samples(folder, text_tokenizer, with_reference, seed)
    return backend.training_collator(tiny_model_config())(samples), frames


def installed_backend():
    """The backend this environment runs (boson in the default one, native in the other)."""
    from higgs_lora.backends import default, get

    return get(default())


def tiny_model_config():
    """The installed backend's tiny model config."""
    import importlib

    return importlib.import_module(f"higgs_lora.backends.{installed_backend().name}.tiny").tiny_config()


def synthetic_samples(folder: Path, text_tokenizer, with_reference: bool = True, seed: int = 0):
    """The two encoded samples behind `synthetic_batch`, and their code tensors in audio-out order."""
    import torch

    from higgs_lora.data.cache import CodesCache
    from higgs_lora.higgs.examples import Example

    generator = torch.Generator().manual_seed(seed)
    cache = CodesCache(folder, "synthetic")
    codes = {}
    for name, frames in {"ref": 7, "target1": 9, "target2": 5}.items():
        codes[name] = torch.randint(0, 1024, (4, frames), generator=generator)
        cache.put(folder / f"{name}.safetensors", codes[name], Path(name))
    examples = [
        Example(
            "Say this.",
            folder / "target1.safetensors",
            "Reference words." if with_reference else None,
            folder / "ref.safetensors" if with_reference else None,
        ),
        Example("Hi.", folder / "target2.safetensors"),
    ]
    encode = installed_backend().encode_example
    samples = [encode(e, text_tokenizer, "Generate audio following instruction.") for e in examples]
    order = (["ref"] if with_reference else []) + ["target1", "target2"]
    return samples, [codes[name] for name in order]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m higgs_lora ARGS` in a subprocess, output captured (the command exactly as users run it);
    `env` adds to (or replaces) the test process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "higgs_lora", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def real_size_adapter(folder: Path, ratio: float = 2e-3, seed: int = 0) -> Path:
    """An adapter the size a real run leaves, over a base stored the way the real checkpoint is.

    The base is the installed backend's tiny model with its weights rounded to bf16 values and saved in
    bf16 (bosonai's checkpoint is stored in bf16), in `folder/base`. The adapter (the recipe defaults:
    r=16, alpha=32 on attention + audio FFN) has random A and B, B scaled per module so that
    ‖ΔW‖/‖W‖ = `ratio` (lr 2e-4 runs end near 1e-3 to 1e-2; the tiny test adapters trained at lr 3e-3
    are far larger). Returns the adapter folder, `folder/adapter`, whose config names that base.
    """
    import json

    import torch
    from safetensors.torch import load_file, save_file

    from higgs_lora.core.schema import LoraConfig
    from higgs_lora.model.lora import apply_lora

    backend = installed_backend()
    base = folder / "base"
    shutil.copytree(backend.tiny_model_dir(), base)
    for file in base.glob("*.safetensors"):
        weights = {key: value.to(torch.bfloat16) for key, value in load_file(str(file)).items()}
        save_file(weights, str(file), metadata={"format": "pt"})
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    config.update({key: "bfloat16" for key in ("torch_dtype", "dtype") if key in config})
    (base / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tiny = backend.load_base_model(str(base), None, torch_dtype=torch.float32)
    model = apply_lora(tiny, LoraConfig())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if not hasattr(module, "lora_B") or "default" not in module.lora_B:
                continue
            a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
            a.copy_(torch.randn(a.shape, generator=generator))
            b.copy_(torch.randn(b.shape, generator=generator))
            delta = (b @ a) * module.scaling["default"]
            b.mul_(ratio * module.base_layer.weight.norm() / delta.norm())
    model.peft_config["default"].base_model_name_or_path = str(base)
    adapter = folder / "adapter"
    model.save_pretrained(adapter, safe_serialization=True, save_embedding_layers=False)
    return adapter


def adapter_effect(adapter: Path) -> dict:
    """The installed backend's probe batch, and its audio logits with `adapter` applied unmerged and
    disabled (the base), both in fp32: what `kept_share` measures a model against."""
    import torch

    import higgs_lora
    from higgs_lora.backends.tiny import build_tiny_text_tokenizer

    model = higgs_lora.load_adapter(adapter, dtype=torch.float32).eval()
    probe = installed_backend().probe_batch(model.get_base_model().config, build_tiny_text_tokenizer(), "cpu")
    with torch.no_grad():
        adapted = model(**probe).audio_logits.float()
        with model.disable_adapter():
            base = model(**probe).audio_logits.float()
    return {"probe": probe, "adapted": adapted, "base": base}


def kept_share(model, effect: dict) -> float:
    """The share of the adapter's effect `model` (any dtype, run in fp32) still has on the probe:
    1 - ‖out - adapted‖ / ‖adapted - base‖ (`effect` from `adapter_effect`)."""
    import torch

    with torch.no_grad():
        got = model.float()(**effect["probe"]).audio_logits.float()
    adapted, base = effect["adapted"], effect["base"]
    return 1 - float((got - adapted).norm() / (adapted - base).norm())
