"""What a finished run leaves for people: metrics.json, the loss-curve PNG, a model card, a summary."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import TYPE_CHECKING, Any

from higgs_lora.core.fileio import atomic_path, write_text_atomic
from higgs_lora.core.hub import canonical, renamed_note
from higgs_lora.core.licenses import card_license, card_section
from higgs_lora.core.schema import Recipe

if TYPE_CHECKING:
    import torch


def loss_history(log_history: list[dict[str, Any]], key: str = "loss") -> list[list[float]]:
    """`[step, value]` pairs of one logged quantity, in step order."""
    return [[entry["step"], round(float(entry[key]), 6)] for entry in log_history if key in entry]


def peak_memory_bytes(device: torch.device) -> int:
    """Peak GPU memory allocated on CUDA; peak resident memory of this process on CPU."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    write_text_atomic(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def plot_losses(folder: Path, metrics: dict[str, Any]) -> Path:
    """Training (and eval) loss against step, as loss.png."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=110)
    train = metrics["loss_history"]
    axes.plot([s for s, _ in train], [v for _, v in train], label="train loss", color="tab:blue")
    if metrics.get("eval_history"):
        evals = metrics["eval_history"]
        axes.plot([s for s, _ in evals], [v for _, v in evals], "o-", label="eval loss", color="tab:orange")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (audio CE + weighted text CE)")
    axes.set_title(f"higgs-lora: {metrics['name']}")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    target = folder / "loss.png"
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return target


def write_model_card(folder: Path, recipe: Recipe, metrics: dict[str, Any]) -> None:
    eval_loss = metrics.get("eval_loss")
    higgs3 = recipe.model.backend == "higgs3"
    card = f"""---
library_name: peft
base_model: {canonical(recipe.model.base)}
{card_license(recipe.model.backend)}tags: [higgs-audio, text-to-speech, lora, qlora, higgs-lora]
---

# {recipe.name}: a LoRA adapter for {"Higgs TTS 3" if higgs3 else "Higgs Audio v2"}

Trained with [higgs-lora](https://pypi.org/project/higgs-lora/) from `recipe.toml` (beside this file).

| | |
|---|---|
| base model | `{recipe.model.base}`{renamed_note(recipe.model.base)} at revision `{recipe.model.revision or "local"}` |
| audio tokenizer | `{recipe.model.audio_tokenizer}` at revision `{recipe.model.audio_tokenizer_revision or "local"}` |
| quantization during training | {recipe.model.quantization} |
| LoRA | r={recipe.lora.r}, alpha={recipe.lora.alpha}, targets={recipe.lora.target_regex or recipe.lora.targets} |
| training clips / eval clips | {metrics["train_examples"]} / {metrics["eval_examples"]} ({metrics["audio_minutes"]:.1f} min of audio in all) |
| optimizer steps | {metrics["steps"]} |
| loss first → final | {metrics["first_loss"]:.4f} → {metrics["final_loss"]:.4f} |
| eval loss | {f"{eval_loss:.4f}" if eval_loss is not None else "n/a (no eval split)"} |
{_best_row(metrics)}
![loss curve](loss.png)

## Use it

```python
import higgs_lora
model = higgs_lora.load_adapter("{folder}")   # base + labels shim + this adapter
```

{_stock_peft_note(higgs3)}{card_section(recipe.model.backend)}"""
    write_text_atomic(folder / "README.md", card)


def _stock_peft_note(higgs3: bool) -> str:
    if higgs3:  # transformers has no class for higgs_multimodal_qwen3: the kit's is the loader
        return (
            "transformers has no class for Higgs TTS 3 (`higgs_multimodal_qwen3`): load the base with the kit's\n"
            "`higgs_lora.backends.higgs3.model.HiggsMultimodalQwen3ForConditionalGeneration` (the checkpoint's\n"
            "own weight names), or use `higgs_lora.load_adapter`.\n"
        )
    return (
        "With stock PEFT the adapter loads onto a plain `HiggsAudioModel`, but PEFT's causal-LM forward passes\n"
        "`labels=`, which `HiggsAudioModel.forward` rejects: load the base as `higgs_lora.HiggsAudioForLoRA`\n"
        "(same weights and keys) or use `higgs_lora.load_adapter`.\n"
    )


def _best_row(metrics: dict[str, Any]) -> str:
    """The model card's line about the best checkpoint kept by [eval] (empty without [eval])."""
    if metrics.get("best_step") is None:
        return ""
    return (
        f"| best checkpoint ([eval] best = {metrics['best_metric']}) | step {metrics['best_step']}: "
        f"{metrics['best_metric']} {metrics['best_value']:.4f}, saved in `best/` (this folder holds the last "
        f"step, {metrics['steps']}) |\n"
    )


def summary(metrics: dict[str, Any], folder: Path) -> str:
    eval_loss = metrics.get("eval_loss")
    return "\n".join(
        [
            f"Finished {metrics['name']}: {metrics['steps']} steps in {metrics['train_seconds']:.0f} s",
            f"  loss {metrics['first_loss']:.4f} → {metrics['final_loss']:.4f}"
            + (f", eval {eval_loss:.4f}" if eval_loss is not None else ""),
            f"  trainable parameters {metrics['trainable_params']:,} of {metrics['total_params']:,}",
            f"  padding {metrics['padding_fraction']:.1%} of batch positions"
            + (" (length-bucketed)" if metrics["bucketed"] else ""),
            f"  waiting for data {metrics['data_wait_fraction']:.1%} of training time "
            f"({metrics['dataloader_workers']} loader workers)",
            f"  peak memory {metrics['peak_memory_bytes'] / 2**30:.2f} GiB ({metrics['device']})",
            f"  adapter → {folder}/ (adapter_model.safetensors, metrics.json, loss.png, README.md)",
            *(f"  note: {note}" for note in metrics.get("notes", [])),
        ]
        + (
            [
                f"  best by {metrics['best_metric']}: step {metrics['best_step']} "
                f"({metrics['best_value']:.4f}) → {metrics['best_dir']}/ (the adapter above is the last step)"
            ]
            if metrics.get("best_step") is not None
            else []
        )
    )
