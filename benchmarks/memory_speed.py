"""higgs-lora's training step against a naive community-style loop, on the mid-size proxy, CPU.

    python benchmarks/memory_speed.py [--steps 6] [--batch 2]

Both variants train the same LoRA (r=16, attention + audio FFN) on the same synthetic clips
(5-20 s of random codes) and run in separate processes, alternating, so their peak memory is their
own. Naive = what community trainers do: bf16 base without quantization, full-vocabulary text logits
upcast to fp32 for the loss, no length bucketing, no activation checkpointing. higgs-lora = NF4 base,
text logits only where a text label exists, bucketed batches, checkpointed layers. Prints steps/s, peak
memory above the import baseline, padding fraction and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_variant(variant: str, folder: Path, steps: int, batch: int) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from benchmarks.proxy import proxy_checkpoint, synthetic_samples
    from higgs_lora.backends.boson import BACKEND
    from higgs_lora.backends.boson.collate import TrainingCollator
    from higgs_lora.core.schema import LoraConfig, ModelConfig
    from higgs_lora.data import SpeechDataset
    from higgs_lora.higgs.loss import higgs_loss
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer
    from higgs_lora.model.lean import DeferredTextHead
    from higgs_lora.verbs.train import padding_fraction

    torch.manual_seed(0)
    base_rss = rss()
    lean = variant == "higgs-lora"
    checkpoint = proxy_checkpoint(folder / "proxy")
    config = ModelConfig(
        base=str(checkpoint),
        quantization="nf4" if lean else "none",
        compute_dtype="float32" if lean else "bfloat16",
    )
    model = load_base_model(config)
    if lean:
        enable_layer_checkpointing(model)
    model = apply_lora(model, LoraConfig(r=16, alpha=32, dropout=0.0))
    text_head = DeferredTextHead(model) if lean else None
    examples = synthetic_samples(folder / "codes", 4 * batch * steps, (5.0, 20.0), 8)
    dataset = SpeechDataset(
        examples, load_text_tokenizer(config), "Generate audio following instruction.", BACKEND
    )
    lengths = dataset.lengths(8)
    if lean:  # longest-first buckets, as the Trainer's LengthGroupedSampler does
        from transformers.trainer_pt_utils import LengthGroupedSampler

        order = list(LengthGroupedSampler(batch, lengths=lengths, generator=torch.Generator().manual_seed(0)))
    else:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0)).tolist()
    loader = DataLoader(
        [dataset[i] for i in order], batch_size=batch, collate_fn=TrainingCollator(model.config)
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    tokens = 0
    for step, inputs in enumerate(loader):
        if step == steps + 1:
            break
        started = time.perf_counter()
        label_audio_ids = inputs.pop("label_audio_ids")
        if lean:
            with text_head.deferring():
                out = model(**inputs)
            loss = higgs_loss(
                out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=text_head.head
            )
            total = loss.total
        else:  # community style: everything in fp32, every position
            out = model(**inputs)
            logits = out.logits.float()
            text = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]),
                out.expanded_labels[:, 1:].reshape(-1),
                ignore_index=-100,
            )
            audio = torch.nn.functional.cross_entropy(
                out.audio_logits[:-1].float().reshape(-1, out.audio_logits.shape[-1]),
                label_audio_ids[:, 1:].T.reshape(-1),
                ignore_index=-100,
            )
            total = text + audio
        total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step > 0:  # the first step warms caches and allocators
            times.append(time.perf_counter() - started)
            tokens += int(inputs["attention_mask"].sum())
    return {
        "variant": variant,
        "steps_per_second": len(times) / sum(times),
        "tokens_per_second": tokens / sum(times),
        "peak_bytes": rss() - base_rss,
        "padding_fraction": padding_fraction(lengths, order, batch),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each variant")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, Path(args.folder), args.steps, args.batch)))
        return 0
    results: dict[str, list[dict]] = {"naive": [], "higgs-lora": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for variant in results:
                command = [sys.executable, __file__, "--variant", variant, "--folder", tmp,
                           "--steps", str(args.steps), "--batch", str(args.batch)]  # fmt: skip
                output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                results[variant].append(json.loads(output.strip().splitlines()[-1]))
    print(f"mid-size proxy (hidden 512, 4 layers, vocab 128256, 8 codebooks), batch {args.batch}, "
          f"{args.steps} timed steps, {args.rounds} alternating rounds, CPU")  # fmt: skip
    print(f"{'variant':<12} {'steps/s':>8} {'tokens/s':>9} {'peak MiB':>9} {'padding':>8}")
    best = {}
    for variant, runs in results.items():
        speed = max(r["steps_per_second"] for r in runs)
        peak = min(r["peak_bytes"] for r in runs)
        tokens = max(r["tokens_per_second"] for r in runs)
        best[variant] = (speed, peak)
        print(
            f"{variant:<12} {speed:8.3f} {tokens:9.0f} {peak / 2**20:9.0f} {runs[0]['padding_fraction']:8.1%}"
        )
    speedup = best["higgs-lora"][0] / best["naive"][0]
    memory = best["higgs-lora"][1] / best["naive"][1]
    print(
        f"\nhiggs-lora vs naive: {speedup:.2f}x steps/s (target >= 1.5), {memory:.2f}x peak memory (target <= 0.5)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
