"""A recipe and a runtime → transformers `TrainingArguments`: the optimizer, mixed precision, loader
workers and logging the Trainer runs with, decided the same way on CPU and CUDA."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from higgs_lora.core.schema import Recipe

log = logging.getLogger(__name__)


def training_arguments(  # -> TrainingArguments
    recipe: Recipe, runtime, out: Path, progress: bool = True, evaluate: bool = True
):
    """`evaluate`: whether there is an eval split (a data set of one clip has none, whatever
    `[data] eval_fraction` says)."""
    from transformers import TrainingArguments

    cfg = recipe.train
    logs: dict[str, Any] = {"logging_dir": str(out / "logs")}
    if "logging_dir" not in TrainingArguments.__dataclass_fields__:
        # transformers 5 (the native backend) dropped the argument: its TensorBoard callback reads
        # the folder from the environment when the Trainer is built.
        os.environ["TENSORBOARD_LOGGING_DIR"] = logs.pop("logging_dir")
    return TrainingArguments(
        output_dir=str(out / "checkpoints"),
        **logs,
        report_to=["tensorboard"],
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accumulation,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant_with_warmup" if cfg.scheduler == "constant" else cfg.scheduler,
        warmup_steps=cfg.warmup_steps,
        optim=optimizer_name(cfg.optimizer, runtime.cuda),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.log_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if evaluate and recipe.data.eval_fraction > 0 else "no",
        eval_steps=cfg.eval_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        remove_unused_columns=False,  # our batches are not model-signature shaped
        label_names=[],
        # Several processes: every LoRA weight takes part in every step, and the text head's is
        # used by the loss after the model's forward (model/lean.py). DDP's unused-parameter search
        # (the Trainer's default without its own checkpointing) would mark it ready early, then again.
        ddp_find_unused_parameters=False,
        # Mixed precision follows the compute dtype on every device (bf16 on CUDA by default; on CPU
        # when the recipe asks for it, which rehearses the CUDA setup: see HiggsTrainer.use_cpu_amp).
        bf16=runtime.mixed_precision == "bf16",
        fp16=runtime.mixed_precision == "fp16",
        # CPU vs CUDA, the named differences: the device, loader workers by default, pinned memory.
        use_cpu=not runtime.cuda,
        dataloader_num_workers=loader_workers(cfg.loader_workers, runtime.cuda),
        dataloader_pin_memory=runtime.cuda,  # page-locked host memory for copies to a GPU only
        disable_tqdm=not progress,
    )


def loader_workers(choice: int | str, cuda: bool) -> int:
    """Data-loader worker processes: 2 on CUDA (batches are built while the GPU computes), 0 on CPU
    (the same cores would be taken from the step); a number in the recipe wins on both."""
    if choice == "auto":
        return 2 if cuda else 0
    return int(choice)


def optimizer_name(choice: str, cuda: bool) -> str:
    """Trainer optimizer name: paged 8-bit AdamW on CUDA, plain AdamW where bitsandbytes' need CUDA."""
    if choice == "adamw" or (not cuda and choice != "adamw"):
        if choice not in ("adamw", "auto"):
            log.warning("optimizer %s needs CUDA; using plain AdamW on this CPU run", choice)
        return "adamw_torch"
    return {
        "auto": "paged_adamw_8bit",
        "paged_adamw_8bit": "paged_adamw_8bit",
        "adamw_8bit": "adamw_bnb_8bit",
    }[choice]


def text_term(recipe: Recipe, random_text_head: bool) -> str | None:
    """Train without the text loss term when the base's text head is random, and say so (the note goes to
    the log, the summary and metrics.json; the recorded recipe.toml shows the weight used).

    A checkpoint without `text_lm_head` weights (some transformers conversions drop it) gets a freshly
    initialised head at load. Its text term would pull the backbone towards noise at any weight, so it
    is not refused but left out: the audio term is the training signal of a TTS fine-tune (the text
    targets are only control tokens, and native generation never uses the text head). Returns the
    note, or None when nothing changed."""
    if not random_text_head:
        return None
    asked = recipe.train.text_loss_weight
    recipe.train.text_loss_weight = 0.0
    return (
        f"{recipe.model.base} has no text_lm_head weights, so its text head is random: training without "
        f"the text loss term ([train] text_loss_weight {asked:g} → 0; the audio term is unchanged). For the "
        "text term, train a checkpoint that holds text_lm_head weights."
    )
