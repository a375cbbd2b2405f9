"""The Trainer's own measurements: how long training waited for data."""

from __future__ import annotations

import time
from pathlib import Path

from torch.utils.data import Dataset

from tests.helpers import synthetic_samples


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
    from transformers import TrainingArguments

    from higgs_lora.data import TrainingCollator
    from higgs_lora.model import apply_lora, load_base_model
    from higgs_lora.recipe import LoraConfig, ModelConfig
    from higgs_lora.trainer import HiggsTrainer

    samples, _ = synthetic_samples(tmp_path, text_tokenizer)
    model = apply_lora(load_base_model(ModelConfig(base="tiny-random")), LoraConfig(r=4))
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to=[],
        remove_unused_columns=False,
        label_names=[],
        max_steps=3,
        per_device_train_batch_size=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = HiggsTrainer(
        model=model,
        args=args,
        train_dataset=SlowDataset(samples, 0.2),
        data_collator=TrainingCollator(model.config),
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    assert 3 * 0.2 <= trainer.data_wait_seconds < elapsed
