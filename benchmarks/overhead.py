"""The kit's overhead: HiggsTrainer (transformers Trainer + our loss, logging, checkpoint plumbing)
against a minimal hand-written PEFT loop doing the same maths on the same batches.

    python benchmarks/overhead.py [--steps 8] [--rounds 3]

Same model (mid-size proxy, NF4, checkpointed layers, LoRA r=16), same order of batches, same loss
(text head on labelled rows only), AdamW; logging every step, no eval, no checkpoint in the timed window. Each
variant runs in its own process, alternating; the first step of each run is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(folder: Path, steps: int):
    import torch

    from benchmarks.proxy import proxy_checkpoint, synthetic_samples
    from higgs_lora.backends.boson import BACKEND
    from higgs_lora.backends.boson.collate import TrainingCollator
    from higgs_lora.core.schema import LoraConfig, ModelConfig
    from higgs_lora.data import SpeechDataset
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer

    torch.manual_seed(0)
    config = ModelConfig(base=str(proxy_checkpoint(folder / "proxy")), compute_dtype="float32")
    model = load_base_model(config)
    enable_layer_checkpointing(model)
    model = apply_lora(model, LoraConfig(r=16, alpha=32, dropout=0.0))
    examples = synthetic_samples(folder / "codes", steps + 1, (10.0, 10.0), 8)  # equal lengths: order-free
    dataset = SpeechDataset(
        examples, load_text_tokenizer(config), "Generate audio following instruction.", BACKEND
    )
    return model, dataset, TrainingCollator(model.config)


def run_trainer(folder: Path, steps: int) -> float:
    from transformers import TrainerCallback, TrainingArguments

    from higgs_lora.training.trainer import HiggsTrainer

    model, dataset, collator = build(folder, steps)
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    args = TrainingArguments(
        output_dir=str(folder / "out"), max_steps=steps + 1, per_device_train_batch_size=1, learning_rate=1e-4,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, optim="adamw_torch",
        remove_unused_columns=False, label_names=[], disable_tqdm=True, lr_scheduler_type="constant",
        dataloader_pin_memory=False,
    )  # fmt: skip
    trainer = HiggsTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[Stamp()]
    )
    trainer.train()
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def run_loop(folder: Path, steps: int) -> float:
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from higgs_lora.higgs.loss import higgs_loss
    from higgs_lora.model.lean import DeferredTextHead

    model, dataset, collator = build(folder, steps)
    text_head = DeferredTextHead(model)
    # the same sample order the Trainer draws (its seeded sampler over the same dataset)
    order = list(RandomSampler(dataset, generator=torch.Generator().manual_seed(42)))
    loader = DataLoader(dataset, batch_size=1, sampler=order, collate_fn=collator)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    stamps = []
    for inputs in loader:
        label_audio_ids = inputs.pop("label_audio_ids")
        with text_head.deferring():
            out = model(**inputs)
        loss = higgs_loss(
            out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=text_head.head
        )
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        print(json.dumps({"loss": loss.total.item()}), file=sys.stderr)  # log every step, like the Trainer
        stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run = run_trainer if args.variant == "higgs-lora" else run_loop
        print(json.dumps({"seconds_per_step": run(Path(args.folder), args.steps)}))
        return 0
    seconds: dict[str, list[float]] = {"minimal loop": [], "higgs-lora": []}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            pair = {}
            for variant in seconds:
                command = [
                    sys.executable,
                    __file__,
                    "--variant",
                    variant,
                    "--folder",
                    tmp,
                    "--steps",
                    str(args.steps),
                ]
                output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                pair[variant] = json.loads(output.strip().splitlines()[-1])["seconds_per_step"]
                seconds[variant].append(pair[variant])
            ratios.append(pair["higgs-lora"] / pair["minimal loop"])
    print(f"mid-size proxy, NF4, checkpointed, batch 1, {args.steps} timed steps x {args.rounds} rounds, CPU")
    for variant, values in seconds.items():
        print(
            f"{variant:<13} median {statistics.median(values):.3f} s/step  (min {min(values):.3f}, max {max(values):.3f})"
        )
    median = statistics.median(ratios)
    print(f"\noverhead of higgs-lora over the minimal loop: {100 * (median - 1):+.1f}% (median of paired ratios "
          f"{', '.join(f'{r:.3f}' for r in ratios)}; target <= +5%)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
