"""QLoRA of the real-size Higgs Audio v2 architecture on one GPU: peak memory and tokens/s.

    python benchmarks/gpu_real_size.py [--steps 10] [--target-seconds 20] [--ref-seconds 10] [--folder DIR]

Random weights (no download): the bundled real architecture (5.8B parameters) is written once as a
bf16 checkpoint to --folder (about 11.6 GB; reused on later runs) and loaded through the kit's own
4-bit path, exactly as a downloaded checkpoint would be. Trains through the kit's own Trainer step
(HiggsTrainer with `training_arguments`: accelerate's bf16 mixed precision, our loss with the deferred
text head, paged 8-bit AdamW, two loader workers), batch 1, a 20 s target after a 10 s reference
(random codes, 8 codebooks at 25 frames/s), LoRA r=16 on attention + audio FFN, gradient
checkpointing: the first lent GPU proves the step users run. Prints the card, measured peak memory
next to `plan`'s prediction, and tokens/s. Needs CUDA; refuses to run without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_random_checkpoint(folder: Path) -> Path:
    import torch
    from boson_multimodal.model.higgs_audio import HiggsAudioConfig, HiggsAudioModel

    from higgs_lora.backends.tiny import build_tiny_text_tokenizer
    from higgs_lora.planning.sizes import KNOWN_CONFIGS

    if (folder / "config.json").is_file():
        return folder
    config = json.loads(next(iter(KNOWN_CONFIGS.values())).read_text())
    config.pop("_comment", None)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = HiggsAudioModel(HiggsAudioConfig(**config)).to(torch.bfloat16)
    model.save_pretrained(folder, max_shard_size="4GB")
    build_tiny_text_tokenizer().save_pretrained(folder)  # same special-token ids as the real one
    del model
    torch.cuda.empty_cache()
    return folder


def main() -> int:
    import torch
    from transformers import TrainerCallback

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--target-seconds", type=float, default=20.0)
    parser.add_argument("--ref-seconds", type=float, default=10.0)
    parser.add_argument("--folder", default="/tmp/higgs-real-size-random")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 2

    from higgs_lora import load_recipe
    from higgs_lora.backends.boson import BACKEND
    from higgs_lora.backends.boson.collate import TrainingCollator
    from higgs_lora.data.cache import CodesCache
    from higgs_lora.data.samples import SpeechDataset
    from higgs_lora.higgs.examples import Example
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer
    from higgs_lora.model.load import pick_runtime
    from higgs_lora.planning.training import plan
    from higgs_lora.training.arguments import training_arguments
    from higgs_lora.training.trainer import HiggsTrainer

    folder = write_random_checkpoint(Path(args.folder))
    # The voice-clone recipe at r=16, on the random real-size checkpoint: what users run.
    recipe = load_recipe(
        Path(__file__).resolve().parents[1] / "recipes" / "voice-clone-24gb.toml",
        {
            "model.base": str(folder), "lora.r": 16, "data.max_seconds": args.target_seconds,
            "train.max_steps": args.steps + 1, "train.batch_size": 1, "train.grad_accumulation": 1,
            "train.save_steps": 10**6, "train.log_steps": 1, "data.eval_fraction": 0.0,
        },
    )  # fmt: skip
    runtime = pick_runtime(recipe.model)
    torch.cuda.reset_peak_memory_stats()
    model = load_base_model(recipe.model, runtime)
    enable_layer_checkpointing(model)
    model = apply_lora(model, recipe.lora)
    weights_bytes = torch.cuda.memory_allocated()

    cache = CodesCache(folder / "codes", "synthetic")
    generator = torch.Generator().manual_seed(0)
    entries = {}
    for name, seconds in (("target", args.target_seconds), ("ref", args.ref_seconds)):
        entries[name] = folder / "codes" / f"{name}.safetensors"
        cache.put(
            entries[name], torch.randint(0, 1024, (8, int(25 * seconds)), generator=generator), entries[name]
        )
    text = " ".join(["word"] * int(3 * args.target_seconds))
    example = Example(text, entries["target"], " ".join(["ref"] * int(3 * args.ref_seconds)), entries["ref"])
    dataset = SpeechDataset(
        [example] * (args.steps + 1), load_text_tokenizer(recipe.model), recipe.data.system_prompt, BACKEND
    )

    class Meter(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.started = 0.0
            self.first_peak = self.resting = 0

        def on_step_begin(self, *_args, **_kwargs):
            torch.cuda.synchronize()
            self.started = time.perf_counter()

        def on_step_end(self, _args, state, *_rest, **_kwargs):
            torch.cuda.synchronize()
            if state.global_step == 1:  # the optimizer state exists from here on
                self.first_peak, self.resting = (
                    torch.cuda.max_memory_allocated(),
                    torch.cuda.memory_allocated(),
                )
                torch.cuda.reset_peak_memory_stats()
            else:
                self.times.append(time.perf_counter() - self.started)

    meter = Meter()
    trainer = HiggsTrainer(
        model=model,
        args=training_arguments(recipe, runtime, folder / "run", progress=False),
        train_dataset=dataset,
        data_collator=TrainingCollator(model.config),
        callbacks=[meter],
    )
    trainer.train()  # the Trainer's step: accelerate's mixed precision, our loss, paged 8-bit AdamW
    sample = TrainingCollator(model.config)([dataset[0]])
    tokens = int(sample["attention_mask"].sum()) + int(sample["label_audio_ids"].shape[1])
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    predicted = plan(recipe, ref_seconds=args.ref_seconds)
    peak = max(meter.first_peak, torch.cuda.max_memory_allocated())
    print(f"GPU: {torch.cuda.get_device_name()}")
    print(
        "real-size Higgs v2 architecture (random weights), NF4 + double quant, LoRA r=16 attention+audio_ffn,"
    )
    print(f"batch 1, {args.target_seconds:g} s target + {args.ref_seconds:g} s reference, checkpointing, "
          f"the kit's Trainer step ({runtime.mixed_precision} mixed precision, {trainer.args.optim})")  # fmt: skip
    print(f"  weights + LoRA on GPU       {weights_bytes / 2**30:6.2f} GiB")
    print(f"  plan: weights + LoRA        {(predicted.weights + predicted.lora) / 2**30:6.2f} GiB")
    step = torch.cuda.max_memory_allocated() - meter.resting
    print(f"  one step allocates          {step / 2**30:6.2f} GiB")
    print(f"  plan: step                  {predicted.step / 2**30:6.2f} GiB")
    print(f"  measured peak (allocated)   {peak / 2**30:6.2f} GiB")
    print(f"  measured peak (reserved)    {torch.cuda.max_memory_reserved() / 2**30:6.2f} GiB")
    print(
        f"  plan's prediction           {predicted.total / 2**30:6.2f} GiB (adds CUDA context and allocator slack)"
    )
    mean = sum(meter.times) / len(meter.times)
    print(f"  step time {mean:.3f} s, {tokens / mean:.0f} tokens/s, loss {losses[0]:.3f} → {losses[-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
