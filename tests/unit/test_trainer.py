"""HiggsTrainer: our loss with the text head on labelled rows only, and the time it waits for data."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset
from transformers import TrainerCallback

from higgs_lora.higgs.loss import higgs_loss
from tests.helpers import synthetic_batch, synthetic_samples


def tiny_trainer(
    tmp_path: Path,
    train_dataset: Any = (0,),
    compute_dtype: str = "auto",
    targets: tuple[str, ...] = ("attention", "audio_ffn"),
    dropout: float = 0.05,
    **arguments: Any,
):  # -> (HiggsTrainer, model)
    from transformers import TrainingArguments

    from higgs_lora.backends.boson.collate import TrainingCollator
    from higgs_lora.core.schema import LoraConfig, ModelConfig
    from higgs_lora.model import apply_lora, load_base_model
    from higgs_lora.training.trainer import HiggsTrainer

    base = load_base_model(ModelConfig(base="tiny-random", compute_dtype=compute_dtype))
    model = apply_lora(base, LoraConfig(r=4, targets=list(targets), dropout=dropout))
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to=[],
        remove_unused_columns=False,
        label_names=[],
        **arguments,
    )
    collator = TrainingCollator(model.config)
    return HiggsTrainer(model=model, args=args, train_dataset=train_dataset, data_collator=collator), model


def test_the_trainer_applies_the_text_head_to_labelled_rows_only(tmp_path: Path, text_tokenizer) -> None:
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    trainer, model = tiny_trainer(tmp_path)
    head, rows = trainer.text_head.head, []
    trainer.text_head.head = lambda hidden: rows.append(hidden.shape[0]) or head(hidden)
    loss = trainer.compute_loss(model, batch)
    trainer.text_head.head = head
    full = model(**{k: v for k, v in batch.items() if k != "label_audio_ids"})
    assert rows == [int((full.expanded_labels[:, 1:] != -100).sum())]
    assert 0 < rows[0] < 0.1 * full.expanded_labels.numel()
    expected = higgs_loss(full.logits, full.expanded_labels, full.audio_logits, batch["label_audio_ids"])
    torch.testing.assert_close(loss, expected.total)


class SlowDataset(Dataset):
    """Samples that take `seconds` each to load: a data loader that cannot keep up."""

    def __init__(self, samples: list, seconds: float) -> None:
        self.samples, self.seconds = samples, seconds

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int):
        time.sleep(self.seconds)
        return self.samples[index % len(self.samples)]


def test_time_waiting_for_a_slow_data_loader_is_measured(tmp_path: Path, text_tokenizer) -> None:
    samples, _ = synthetic_samples(tmp_path, text_tokenizer)
    trainer, _ = tiny_trainer(
        tmp_path,
        SlowDataset(samples, 0.2),
        max_steps=3,
        per_device_train_batch_size=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    assert 3 * 0.2 <= trainer.data_wait_seconds < elapsed


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_training_steps_in_cuda_mixed_precision_rehearsed_on_cpu(
    tmp_path: Path, text_tokenizer, precision: str
) -> None:
    """On CUDA the Trainer lets accelerate autocast the model's forward and convert its outputs to fp32,
    and nothing autocasts `compute_loss` (HIGGS_NOTES §14). The same here: a 4-bit base in half
    precision, LoRA on the heads too, and the text head applied in the loss to fp32 hidden states."""
    samples, _ = synthetic_samples(tmp_path, text_tokenizer)
    dtype = {"bf16": "bfloat16", "fp16": "float16"}[precision]
    trainer, _ = tiny_trainer(
        tmp_path,
        samples,
        compute_dtype=dtype,
        targets=("attention", "audio_ffn", "heads"),
        max_steps=3,
        per_device_train_batch_size=2,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        **{precision: True},
    )
    assert trainer.use_cpu_amp is False, "compute_loss is not autocast on CUDA, so not here either"
    assert trainer.accelerator.mixed_precision == precision
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)


class GradientProbe(TrainerCallback):
    """The LoRA gradients and the logged loss of the first optimizer step, before it is taken."""

    def __init__(self) -> None:
        self.gradients: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if not self.gradients:
            self.gradients = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_an_epoch_shorter_than_the_accumulation_window_gives_the_mean_gradient(
    tmp_path: Path, text_tokenizer
) -> None:
    """2 micro-batches an epoch with 4 accumulation steps: the optimizer step comes after 2, and its
    gradient is their mean (transformers 4.46 alone divided them by 4); the loss it logs is their mean."""
    samples, _ = synthetic_samples(tmp_path, text_tokenizer)
    probe = GradientProbe()
    trainer, model = tiny_trainer(
        tmp_path,
        samples,
        dropout=0.0,
        max_steps=1,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=4,
        learning_rate=0.0,
        max_grad_norm=0.0,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer.add_callback(probe)
    collator = trainer.data_collator
    expected: dict[str, torch.Tensor] = {}
    losses = []
    model.train()
    for sample in samples:
        loss = trainer.compute_loss(model, collator([sample]))
        losses.append(float(loss.detach()))
        loss.backward()
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            expected[name] = parameter.grad / len(samples)
    model.zero_grad()
    trainer.train()
    assert probe.gradients.keys() == expected.keys() and expected
    for name, gradient in expected.items():
        torch.testing.assert_close(probe.gradients[name], gradient, rtol=1e-4, atol=1e-8)
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert logged == [pytest.approx(sum(losses) / len(losses), rel=1e-3)]


def test_trainer_workarounds_refuse_a_transformers_they_were_not_written_for() -> None:
    from higgs_lora.core.errors import HiggsLoraError
    from higgs_lora.training.trainer import accumulates_by_accelerator, trainer_version_range

    trainer_version_range()  # the installed, pinned version
    with pytest.raises(HiggsLoraError) as caught:
        trainer_version_range("4.48.0")
    message = str(caught.value)
    assert "transformers 4.48.0 is outside" in message
    assert "gradient accumulation as a true mean" in message and "optimizer state" in message
    assert ">=5.3,<6" in message  # the native backend's Trainer is named too
    # 4.46 leaves dividing accumulated gradients to us; 5.x divides them itself (never twice)
    assert accumulates_by_accelerator("4.46.3") and not accumulates_by_accelerator("5.24.0")


def test_a_kill_before_the_newest_checkpoint_is_marked_leaves_the_last_complete_one(
    tmp_path: Path, text_tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With save_total_limit = 1 the Trainer rotated the old checkpoint away before the new one was
    marked complete: a kill in between left nothing to resume. Old ones now go only after the mark."""
    from higgs_lora.training import trainer as trainer_module
    from higgs_lora.training.checkpoints import checkpoints, mark_complete

    class Killed(Exception):
        pass

    def mark_or_die(folder: Path) -> None:
        if folder.name == "checkpoint-2":
            raise Killed  # the process dies after writing checkpoint-2, before its marker
        mark_complete(folder)

    monkeypatch.setattr(trainer_module, "mark_complete", mark_or_die)
    samples, _ = synthetic_samples(tmp_path, text_tokenizer)
    trainer, _ = tiny_trainer(
        tmp_path, samples, max_steps=3, per_device_train_batch_size=1, save_steps=1, save_total_limit=1,
        disable_tqdm=True,
    )  # fmt: skip
    with pytest.raises(Killed):
        trainer.train()
    found = {path.name: complete for _, path, complete in checkpoints(tmp_path / "out")}
    assert found == {"checkpoint-1": True, "checkpoint-2": False}  # resume takes checkpoint-1


def test_save_total_limit_keeps_the_newest_complete_checkpoints(tmp_path: Path, text_tokenizer) -> None:
    from higgs_lora.training.checkpoints import checkpoints

    samples, _ = synthetic_samples(tmp_path, text_tokenizer)
    trainer, _ = tiny_trainer(
        tmp_path, samples, max_steps=3, per_device_train_batch_size=1, save_steps=1, save_total_limit=1,
        disable_tqdm=True,
    )  # fmt: skip
    trainer.train()
    assert [(path.name, complete) for _, path, complete in checkpoints(tmp_path / "out")] == [
        ("checkpoint-3", True)
    ]
