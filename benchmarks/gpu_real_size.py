"""QLoRA of a real-size Higgs architecture on one GPU: peak memory and tokens/s.

    python benchmarks/gpu_real_size.py [--model v2|higgs3] [--steps 10] [--target-seconds 20]
        [--ref-seconds 10] [--folder DIR] [--layers N]

Random weights (no download): the bundled real architecture is written once as a bf16 checkpoint to
--folder (reused on later runs) and loaded through the kit's own 4-bit path, exactly as a downloaded
checkpoint would be. Trains through the kit's own Trainer step (HiggsTrainer with
`training_arguments`: accelerate's bf16 mixed precision, our loss, paged 8-bit AdamW), batch 1, a 20 s
target after a 10 s reference (random codes, 8 codebooks at 25 frames/s), gradient checkpointing: the
first lent GPU proves the step users run. Prints the card, measured peak memory next to `plan`'s
prediction, and tokens/s. Needs CUDA; refuses to run without it.

- `--model v2` (default; the boson environment): Higgs Audio v2 (5.8B, checkpoint about 11.6 GB), the
  voice-clone-24gb recipe at r=16 on attention + audio FFN, two loader workers.
- `--model higgs3` (the native environment, transformers >= 5.3): Higgs TTS 3 (4.0B, checkpoint about
  8 GB, `higgs_lora/model/configs/higgs-tts-3-4b.json`), the higgs3-8gb recipe's settings (NF4 + double
  quant, r=16 on attention + mlp, checkpointing) with a same-speaker reference, one optimizer step per
  sample (no accumulation, which does not change the peak).

The text tokenizer is the backend's tiny one (the real special-token ids, byte-level text), so prompts
are a little longer in tokens than with the real tokenizer; the audio rows dominate either way.
`--layers N` keeps only N decoder layers (a quicker check of the script; its figures then describe that
smaller model, and `plan` reads the same smaller config).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Model:
    """What differs between the architectures the benchmark covers."""

    backend: str
    known: str  # the hub id whose bundled config (planning.sizes.KNOWN_CONFIGS) is the architecture
    recipe: str
    overrides: dict[str, Any]
    card: str
    folder: str


MODELS = {
    "v2": Model(
        "boson",
        "bosonai/higgs-tts-2-3b-base",
        "voice-clone-24gb.toml",
        {"lora.r": 16},
        "real-size Higgs v2 architecture (random weights), NF4 + double quant, LoRA r=16 attention+audio_ffn",
        "/tmp/higgs-real-size-random",
    ),
    "higgs3": Model(
        "higgs3",
        "bosonai/higgs-tts-3-4b",
        "higgs3-8gb.toml",
        {"data.reference": "same_speaker"},
        "real-size Higgs TTS 3 architecture (random weights), NF4 + double quant, LoRA r=16 attention+mlp",
        "/tmp/higgs3-real-size-random",
    ),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="v2", help="the architecture (default v2)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after one warm-up step)")
    parser.add_argument("--target-seconds", type=float, default=20.0)
    parser.add_argument("--ref-seconds", type=float, default=10.0)
    parser.add_argument("--folder", help="where the random checkpoint is written (default: /tmp/...)")
    parser.add_argument("--layers", type=int, help="keep only this many decoder layers (a quick check)")
    return parser.parse_args(argv)


def architecture_config(model: Model, layers: int | None) -> dict[str, Any]:
    """The bundled real config.json, optionally cut to `layers` decoder layers."""
    from higgs_lora.planning.sizes import KNOWN_CONFIGS

    config = json.loads(KNOWN_CONFIGS[model.known].read_text(encoding="utf-8"))
    config.pop("_comment", None)
    if layers is not None:
        config["text_config"]["num_hidden_layers"] = layers
        if model.backend == "boson":
            config["audio_dual_ffn_layers"] = [i for i in config["audio_dual_ffn_layers"] if i < layers]
    return config


def write_random_checkpoint(model: Model, folder: Path, layers: int | None, device: str = "cuda") -> Path:
    """A random bf16 checkpoint of the architecture, with a tiny text tokenizer; kept once written."""
    import torch

    if (folder / "config.json").is_file():
        return folder
    config = architecture_config(model, layers)
    torch.manual_seed(0)
    if model.backend == "boson":
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig, HiggsAudioModel

        from higgs_lora.backends.tiny import build_tiny_text_tokenizer

        with torch.device(device):
            network = HiggsAudioModel(HiggsAudioConfig(**config)).to(torch.bfloat16)
    else:
        from higgs_lora.backends.higgs3.config import Higgs3Config
        from higgs_lora.backends.higgs3.model import HiggsMultimodalQwen3ForConditionalGeneration
        from higgs_lora.backends.higgs3.tiny import build_tiny_text_tokenizer

        fields = {k: v for k, v in config.items() if k not in ("architectures", "model_type")}
        with torch.device(device):
            network = HiggsMultimodalQwen3ForConditionalGeneration(Higgs3Config(**fields)).to(torch.bfloat16)
    network.save_pretrained(folder, max_shard_size="4GB")
    build_tiny_text_tokenizer().save_pretrained(folder)  # same special-token ids as the real one
    del network
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "gpu_real_size.py needs a CUDA GPU (it measures GPU memory and paged 8-bit AdamW); none is "
            "visible here. On CPU, `higgs-lora plan RECIPE` predicts the same figures.",
            file=sys.stderr,
        )
        return 2
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Build (once), load in 4 bits, train, print. On CPU (a check of the script only) memory reads 0."""
    import torch
    from transformers import TrainerCallback

    from higgs_lora import load_recipe
    from higgs_lora.backends import get
    from higgs_lora.data.cache import CodesCache
    from higgs_lora.data.samples import SpeechDataset
    from higgs_lora.higgs.examples import Example
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer
    from higgs_lora.model.load import pick_runtime
    from higgs_lora.planning.training import plan
    from higgs_lora.training.arguments import training_arguments
    from higgs_lora.training.trainer import HiggsTrainer

    cuda = torch.cuda.is_available()

    def memory(name: str) -> int:
        return int(getattr(torch.cuda, name)()) if cuda else 0

    spec = MODELS[args.model]
    backend = get(spec.backend)
    folder = write_random_checkpoint(
        spec, Path(args.folder or spec.folder), args.layers, "cuda" if cuda else "cpu"
    )
    recipe = load_recipe(
        ROOT / "recipes" / spec.recipe,
        {
            **spec.overrides,
            "model.base": str(folder), "data.max_seconds": args.target_seconds,
            "train.max_steps": args.steps + 1, "train.batch_size": 1, "train.grad_accumulation": 1,
            "train.save_steps": 10**6, "train.log_steps": 1, "data.eval_fraction": 0.0,
        },
    )  # fmt: skip
    runtime = pick_runtime(recipe.model)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model = load_base_model(recipe.model, runtime)
    enable_layer_checkpointing(model)
    model = apply_lora(model, recipe.lora)
    weights_bytes = memory("memory_allocated")

    cache = CodesCache(folder / "codes", "synthetic")
    generator = torch.Generator().manual_seed(0)
    codebooks = backend.codebooks(model.config)[0]
    entries = {}
    for name, seconds in (("target", args.target_seconds), ("ref", args.ref_seconds)):
        entries[name] = folder / "codes" / f"{name}.safetensors"
        codes = torch.randint(0, 1024, (codebooks, int(25 * seconds)), generator=generator)
        cache.put(entries[name], codes, entries[name])
    text = " ".join(["word"] * int(3 * args.target_seconds))
    example = Example(text, entries["target"], " ".join(["ref"] * int(3 * args.ref_seconds)), entries["ref"])
    dataset = SpeechDataset(
        [example] * (args.steps + 1), load_text_tokenizer(recipe.model), recipe.data.system_prompt, backend
    )

    class Meter(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.started = 0.0
            self.first_peak = self.resting = 0

        def on_step_begin(self, *_args, **_kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.started = time.perf_counter()

        def on_step_end(self, _args, state, *_rest, **_kwargs):
            if cuda:
                torch.cuda.synchronize()
            if state.global_step == 1:  # the optimizer state exists from here on
                self.first_peak, self.resting = memory("max_memory_allocated"), memory("memory_allocated")
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
            else:
                self.times.append(time.perf_counter() - self.started)

    meter = Meter()
    collator = backend.training_collator(model.config)
    trainer = HiggsTrainer(
        model=model,
        args=training_arguments(recipe, runtime, folder / "run", progress=False),
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[meter],
    )
    trainer.train()  # the Trainer's step: accelerate's mixed precision, our loss, paged 8-bit AdamW
    sample = collator([dataset[0]])
    tokens = int(sample["attention_mask"].sum())
    if spec.backend == "boson":  # v2's audio-out rows are not in the text sequence
        tokens += int(sample["label_audio_ids"].shape[1])
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    predicted = plan(recipe, ref_seconds=args.ref_seconds)
    peak = max(meter.first_peak, memory("max_memory_allocated"))
    layers = f", {args.layers} layers only" if args.layers is not None else ""
    print(f"GPU: {torch.cuda.get_device_name() if cuda else 'none (CPU: memory figures read 0)'}")
    print(f"{spec.card}{layers},")
    print(f"batch 1, {args.target_seconds:g} s target + {args.ref_seconds:g} s reference, checkpointing, "
          f"the kit's Trainer step ({runtime.mixed_precision} mixed precision, {trainer.args.optim})")  # fmt: skip
    print(f"  weights + LoRA on GPU       {weights_bytes / 2**30:6.2f} GiB")
    print(f"  plan: weights + LoRA        {(predicted.weights + predicted.lora) / 2**30:6.2f} GiB")
    step = memory("max_memory_allocated") - meter.resting
    print(f"  one step allocates          {step / 2**30:6.2f} GiB")
    print(f"  plan: step                  {predicted.step / 2**30:6.2f} GiB")
    print(f"  measured peak (allocated)   {peak / 2**30:6.2f} GiB")
    print(f"  measured peak (reserved)    {memory('max_memory_reserved') / 2**30:6.2f} GiB")
    print(
        f"  plan's prediction           {predicted.total / 2**30:6.2f} GiB (adds CUDA context and allocator slack)"
    )
    mean = sum(meter.times) / len(meter.times)
    print(f"  step time {mean:.3f} s, {tokens / mean:.0f} tokens/s, loss {losses[0]:.3f} → {losses[-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
