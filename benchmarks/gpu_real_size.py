"""QLoRA of the real-size Higgs Audio v2 architecture on one GPU: peak memory and tokens/s.

    python benchmarks/gpu_real_size.py [--steps 10] [--target-seconds 20] [--ref-seconds 10] [--folder DIR]

Random weights (no download): the bundled real architecture (5.8B parameters) is written once as a
bf16 checkpoint to --folder (about 11.6 GB; reused on later runs) and loaded through the kit's own
4-bit path, exactly as a downloaded checkpoint would be. Trains batch 1, a 20 s target after a 10 s
reference (random codes, 8 codebooks at 25 frames/s), LoRA r=16 on attention + audio FFN, gradient
checkpointing, paged 8-bit AdamW. Prints the card, measured peak memory next to `plan`'s prediction,
and tokens/s. Needs CUDA; refuses to run without it.
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

    from higgs_lora.model.tiny import build_tiny_text_tokenizer
    from higgs_lora.plan import KNOWN_CONFIGS

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
    from higgs_lora.data import TrainingCollator
    from higgs_lora.data.cache import CodesCache
    from higgs_lora.data.samples import Example, SpeechDataset
    from higgs_lora.loss import higgs_loss
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer
    from higgs_lora.model.lean import DeferredTextHead
    from higgs_lora.plan import plan
    from higgs_lora.recipe import LoraConfig, ModelConfig

    folder = write_random_checkpoint(Path(args.folder))
    config = ModelConfig(base=str(folder), quantization="nf4")
    torch.cuda.reset_peak_memory_stats()
    model = load_base_model(config)
    enable_layer_checkpointing(model)
    model = apply_lora(model, LoraConfig(r=16, alpha=32, dropout=0.05))
    text_head = DeferredTextHead(model)
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
    dataset = SpeechDataset([example], load_text_tokenizer(config), "Generate audio following instruction.")
    batch = TrainingCollator(model.config)([dataset[0]])
    batch = {k: v.cuda() for k, v in batch.items()}
    label_audio_ids = batch.pop("label_audio_ids")
    import bitsandbytes as bnb

    optimizer = bnb.optim.PagedAdamW8bit([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    first_step_peak = resting = 0
    for step in range(args.steps + 1):
        torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16), text_head.deferring():
            out = model(**batch)
        loss = higgs_loss(
            out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=text_head.head
        )
        del out  # as in the Trainer: nothing keeps the model outputs through backward
        loss.total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - started)
        else:  # the optimizer state now exists: later steps' peaks are the step's own allocations
            first_step_peak, resting = torch.cuda.max_memory_allocated(), torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
    tokens = int(batch["attention_mask"].sum()) + int(label_audio_ids.shape[1])
    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "voice-clone-24gb.toml",
                         {"lora.r": 16, "data.max_seconds": args.target_seconds})  # fmt: skip
    predicted = plan(recipe, ref_seconds=args.ref_seconds)
    peak = max(first_step_peak, torch.cuda.max_memory_allocated())
    print(f"GPU: {torch.cuda.get_device_name()}")
    print(
        "real-size Higgs v2 architecture (random weights), NF4 + double quant, LoRA r=16 attention+audio_ffn,"
    )
    print(
        f"batch 1, {args.target_seconds:g} s target + {args.ref_seconds:g} s reference, checkpointing, paged AdamW 8-bit"
    )
    print(f"  weights + LoRA on GPU       {weights_bytes / 2**30:6.2f} GiB")
    print(f"  plan: weights + LoRA        {(predicted.weights + predicted.lora) / 2**30:6.2f} GiB")
    step = torch.cuda.max_memory_allocated() - resting
    print(f"  one step allocates          {step / 2**30:6.2f} GiB")
    print(f"  plan: step                  {predicted.step / 2**30:6.2f} GiB")
    print(f"  measured peak (allocated)   {peak / 2**30:6.2f} GiB")
    print(f"  measured peak (reserved)    {torch.cuda.max_memory_reserved() / 2**30:6.2f} GiB")
    print(
        f"  plan's prediction           {predicted.total / 2**30:6.2f} GiB (adds CUDA context and allocator slack)"
    )
    print(
        f"  step time {sum(times) / len(times):.3f} s, {tokens * len(times) / sum(times):.0f} tokens/s, final loss {loss.total.item():.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
