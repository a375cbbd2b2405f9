"""`plan`'s activation and logits estimate against the live tensor memory of real training steps.

    python benchmarks/plan_check.py [--model proxy|tiny] [--verbs]

A GPU's peak is the weights plus what one step allocates on top of them, plus the CUDA context
and allocator slack. The middle part (activations, logits, loss buffers, LoRA gradients) is
device-independent, so it is measured here on CPU: PyTorch's profiler records every allocation
and free of one training step (forward, our loss, backward, optimizer step), and the highest sum
of live bytes is the step's peak. Cases vary the reference, batch size, checkpointing and LoRA
dropout on the mid-size proxy (or the tiny model), in float32 compute. Each case is compared to
`plan`'s estimate for the same sample shape.

With `--verbs`, the same for `speak` on the tiny model (the only one with a matching audio
tokenizer offline): everything generation allocates besides the model's weights
(the audio tokenizer, static KV caches, encoding a 10 s reference, the prompt's forward, sampling,
decoding) against `planning.inference.generation_parts`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class Case:
    target_seconds: float
    ref_seconds: float = 0.0
    batch: int = 1
    checkpointing: bool = True
    dropout: float = 0.05

    def __str__(self) -> str:
        ref = f"+{self.ref_seconds:g}s ref" if self.ref_seconds else ""
        return (f"{self.target_seconds:g}s{ref} b{self.batch} ckpt {'on' if self.checkpointing else 'off'} "
                f"drop {self.dropout:g}")  # fmt: skip


CASES = [
    Case(10.0),
    Case(20.0, 10.0),
    Case(20.0, 10.0, checkpointing=False),
    Case(20.0, 10.0, dropout=0.0),
    Case(10.0, batch=2),
    Case(10.0, batch=2, checkpointing=False),
]


def step_peak_bytes(step) -> int:  # step: Callable[[], object]
    """Highest live tensor bytes allocated during `step` (memory already held before it is not counted)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, acc_events=True) as prof:
        step()
    # Every allocation and free, with its size (frees negative), in time order.
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


def measure(case: Case, base: str, folder: Path) -> tuple[int, int]:
    """(measured step peak, plan's estimate of it) for one case."""
    import torch

    from benchmarks.proxy import synthetic_samples
    from higgs_lora.backends.boson import BACKEND
    from higgs_lora.backends.boson.collate import TrainingCollator
    from higgs_lora.core.schema import LoraConfig, ModelConfig, Recipe
    from higgs_lora.data import SpeechDataset
    from higgs_lora.higgs.examples import Example
    from higgs_lora.higgs.loss import higgs_loss
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer
    from higgs_lora.model.lean import DeferredTextHead
    from higgs_lora.planning.training import SampleShape, plan

    model_config = ModelConfig(base=base, quantization="nf4", compute_dtype="float32")
    lora = LoraConfig(r=16, alpha=32, dropout=case.dropout, targets=["attention", "audio_ffn"])
    torch.manual_seed(0)
    model = load_base_model(model_config)
    if case.checkpointing:
        enable_layer_checkpointing(model)
    model = apply_lora(model, lora)
    text_head = DeferredTextHead(model)
    codebooks = model.config.audio_num_codebooks
    examples = synthetic_samples(
        folder / f"t{case.target_seconds}", case.batch, (case.target_seconds,) * 2, codebooks
    )
    if case.ref_seconds:
        refs = synthetic_samples(
            folder / f"r{case.ref_seconds}", case.batch, (case.ref_seconds,) * 2, codebooks, 1
        )
        examples = [Example(t.text, t.codes, r.text, r.codes) for t, r in zip(examples, refs, strict=True)]
    dataset = SpeechDataset(
        examples, load_text_tokenizer(model_config), "Generate audio following instruction.", BACKEND
    )
    batch = TrainingCollator(model.config)([dataset[i] for i in range(case.batch)])
    label_audio_ids = batch.pop("label_audio_ids")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step() -> int:
        """One training step; returns the expanded sequence length."""
        with text_head.deferring():
            out = model(**batch)
        loss = higgs_loss(
            out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=text_head.head
        )
        expanded = out.expanded_labels.shape[1]
        del out
        loss.total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return expanded

    expanded = step()  # also creates the optimizer state, which the plan counts apart
    measured = step_peak_bytes(step)
    recipe = Recipe.model_validate({
        "name": "plan-check",
        "model": model_config.model_dump(),
        "lora": lora.model_dump(),
        "data": {"path": "unused", "max_seconds": case.target_seconds},
        "train": {"batch_size": case.batch, "gradient_checkpointing": case.checkpointing},
    })  # fmt: skip
    shape = SampleShape(tokens=expanded, audio_frames=int(label_audio_ids.shape[1]) // case.batch)
    return measured, plan(recipe, shape=shape).step


def measure_speech(base: str, folder: Path, seconds: float = 2.0) -> tuple[int, int]:
    """(measured peak of one `speak` beyond the weights, plan's estimate of it), float32 on CPU."""
    from higgs_lora.backends.boson.tiny import build_tiny_audio_tokenizer
    from higgs_lora.backends.speech import make_speaker
    from higgs_lora.core.schema import ModelConfig
    from higgs_lora.model.load import load_base_model, load_text_tokenizer
    from higgs_lora.planning.inference import REFERENCE_SECONDS, generation_parts
    from higgs_lora.planning.sizes import architecture
    from tests.helpers import write_clip

    config = ModelConfig(
        base=base, audio_tokenizer="tiny-random", quantization="none", compute_dtype="float32"
    )
    model = load_base_model(config).eval()
    text_tokenizer = load_text_tokenizer(config)
    reference = write_clip(folder / "reference.wav", seconds=REFERENCE_SECONDS, sample_rate=16000)

    def speak_once() -> None:  # the tokenizer and caches are built inside: they count
        speaker = make_speaker(model, text_tokenizer, build_tiny_audio_tokenizer())
        speaker(
            "A short sentence to say.", reference, "The words of the reference.", seed=0, max_seconds=seconds
        )

    measured = step_peak_bytes(speak_once)
    predicted = sum(size for _, size in generation_parts(config, architecture(config), 4))
    return measured, predicted


def measure_merge(folder: Path) -> tuple[int, int]:
    """(measured peak of a whole fp32 `merge` on CPU, plan's estimate), for a random tiny adapter."""
    import json

    from higgs_lora.core.schema import LoraConfig, ModelConfig
    from higgs_lora.model import apply_lora, load_base_model
    from higgs_lora.planning.inference import merge_plan
    from higgs_lora.verbs.merge import merge

    config = ModelConfig(base="tiny-random", quantization="none", compute_dtype="float32")
    lora = apply_lora(load_base_model(config), LoraConfig(r=8, targets=["attention", "audio_ffn", "heads"]))
    adapter = folder / "adapter"
    lora.save_pretrained(adapter, save_embedding_layers=False)
    settings = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(
        json.dumps({**settings, "base_model_name_or_path": "tiny-random"})
    )
    lora_params = sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)
    del lora
    measured = step_peak_bytes(lambda: merge(adapter, out=folder / "merged", dtype="fp32", device="cpu"))
    return measured, merge_plan(config, lora_params, 4, None, "CPU").total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["proxy", "tiny"], default="proxy")
    parser.add_argument("--verbs", action="store_true", help="check speak's estimate instead of training's")
    args = parser.parse_args()
    from benchmarks.proxy import proxy_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        if args.verbs:
            measured, predicted = measure_speech("tiny-random", Path(tmp))
            print("tiny model, float32, CPU")
            print(f"speak with a 10 s reference (weights not counted): measured {measured / 2**20:.1f} MiB, "
                  f"plan {predicted / 2**20:.1f} MiB, plan/measured {predicted / measured:.2f}")  # fmt: skip
            measured, predicted = measure_merge(Path(tmp))
            print(f"merge on CPU (whole verb): measured {measured / 2**20:.1f} MiB, "
                  f"plan {predicted / 2**20:.1f} MiB, plan/measured {predicted / measured:.2f}")  # fmt: skip
            return 0
        base = "tiny-random" if args.model == "tiny" else str(proxy_checkpoint(Path(tmp) / "proxy"))
        print(f"{args.model} model, NF4, LoRA r=16 attention + audio_ffn, float32 compute, CPU")
        print(f"{'case':<34} {'measured MiB':>12} {'plan MiB':>9} {'plan/measured':>14}")
        ratios = []
        for case in CASES:
            measured, predicted = measure(case, base, Path(tmp))
            ratios.append(predicted / measured)
            print(f"{case!s:<34} {measured / 2**20:12.1f} {predicted / 2**20:9.1f} {ratios[-1]:14.2f}")
    print(f"\nplan/measured: {min(ratios):.2f} to {max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
