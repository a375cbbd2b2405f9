"""The native backend's training step against boson's, on the mid-size proxy, CPU, side by side.

    python benchmarks/backends.py [--steps 6] [--rounds 3] [--batch 2] [--threads 2] [--json out.json]
        [--boson-python /work/main/.venv/bin/python] [--native-python /work/native-venv/bin/python]

The driver runs with either interpreter (it imports neither torch nor the kit). It first writes, in the
boson environment, the proxy checkpoint (`benchmarks/proxy.py`: hidden 512, 4 layers, vocab 128256,
8 codebooks) in boson's layout, a copy converted to the native layout (`layouts.convert_checkpoint_folder`:
same tensors), synthetic code clips (5-20 s of random codes, in the neutral codes cache) and one batch
order (longest-first buckets, as the Trainer's LengthGroupedSampler). Then each backend runs in its own
process and environment, alternating boson/native for `--rounds` rounds, so peak memory (RSS above the
import baseline) is its own. Each run is the kit's step: NF4 base in fp32 compute, checkpointed layers,
LoRA r=16 (attention + audio FFN, `torch.manual_seed(0)` right before `apply_lora`), the deferred text
head, `SpeechDataset` + the backend's training collator, `higgs_loss`, AdamW; one warm-up step, then
`--steps` timed ones. The warm-up step's loss is the first batch's loss before any update (LoRA B starts
at zero, so it is the base's): both backends must agree on it. Aim: native within 5% of boson.

Measured 2026-11-29 (torch 2.11.0, bitsandbytes 0.50.2, peft 0.21.2; boson env transformers 4.46.3, native
env transformers 5.24.0; a 2-core CPU shared with other work, so the figures are noisy), `--steps 6
--rounds 3 --batch 2 --threads 2`, 1.5 min on a quiet spell:

    round   backend   steps/s CPU s/step  peak MiB   first loss
    1       boson      0.9720       2.04      1129    18.663418
    1       native     0.9666       2.06      1053    18.663418
    2       boson      0.9783       2.03      1104    18.663418
    2       native     0.9534       2.08      1178    18.663418
    3       boson      0.9665       2.06      1188    18.663418
    3       native     0.9866       1.99      1073    18.663418
    median  boson      0.9720       2.04      1129
    median  native     0.9666       2.06      1073
    best    boson      0.9803       2.03      1104
    best    native     0.9969       1.99      1053
    native / boson (median): 0.994x steps/s, 1.008x CPU s/step, 0.950x peak memory
    native / boson (best): 1.017x steps/s, 0.983x CPU s/step, 0.954x peak memory
    first-batch loss before training: |native - boson| = 0 (same in every round), 622592 trainable each
    max |native - boson| loss over all 7 steps of round 1: 0

i.e. native is within 1% of boson in speed (aim: within 5%), slightly leaner in memory, and bit-identical
in loss, training included (a 2-step run on other batches drifted by 2e-6 at step 2: float summation order). An earlier run under heavy load from other work (7.5 min) spread from 0.075
to 0.21 steps/s per round for either backend (median ratio 0.951x), and CPU seconds per step inflate
under load as well (this VM counts time lost to its neighbours), so rerun on a busy machine and read
"best" (each step's fastest round), the least disturbed estimate. A third run, busy again (7 min), had
rounds from 0.06 to 0.96 steps/s, native ahead in each (median 1.074x, memory 0.975x), loss again identical. torch.profiler over 3 steps of the same batch
shows the same ops with the same call counts in both (aten::mm 1026, bitsandbytes dequantize_4bit 351,
flash attention 24): no native-only cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BACKENDS = ("boson", "native")
PROMPT = "Generate audio following instruction."
CODEBOOKS = 8


def rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- in the boson environment, once --------------------------------------------------------------------


def setup(folder: Path, count: int, batch: int) -> None:
    """Proxy checkpoint in both layouts, synthetic clips and the batch order, under `folder`."""
    import shutil

    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from benchmarks.proxy import proxy_checkpoint, synthetic_samples
    from higgs_lora.backends import get
    from higgs_lora.conversion.files import convert_checkpoint_folder
    from higgs_lora.core.schema import ModelConfig
    from higgs_lora.data import SpeechDataset
    from higgs_lora.model import load_text_tokenizer

    boson = proxy_checkpoint(folder / "boson")
    native = folder / "native"
    shutil.copytree(boson, native)
    convert_checkpoint_folder(native, to="native")
    examples = synthetic_samples(folder / "codes", count, (5.0, 20.0), CODEBOOKS)
    config = ModelConfig(base=str(boson), backend="boson")
    dataset = SpeechDataset(examples, load_text_tokenizer(config), PROMPT, get("boson"))
    sampler = LengthGroupedSampler(
        batch, lengths=dataset.lengths(CODEBOOKS), generator=torch.Generator().manual_seed(0)
    )
    manifest = {"examples": [[e.text, str(e.codes)] for e in examples], "order": list(sampler)}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


# ---- one backend, in its own environment -----------------------------------------------------------------


def run_variant(name: str, folder: Path, steps: int, batch: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from torch.utils.data import DataLoader

    from higgs_lora import backends
    from higgs_lora.core.schema import LoraConfig, ModelConfig
    from higgs_lora.data import SpeechDataset
    from higgs_lora.higgs.examples import Example
    from higgs_lora.higgs.loss import higgs_loss
    from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, load_text_tokenizer
    from higgs_lora.model.lean import DeferredTextHead

    base_rss = rss()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    examples = [Example(text, Path(codes)) for text, codes in manifest["examples"]]
    config = ModelConfig(base=str(folder / name), backend=name, quantization="nf4", compute_dtype="float32")
    backend = backends.get(name)
    model = load_base_model(config)
    enable_layer_checkpointing(model)
    torch.manual_seed(0)
    model = apply_lora(model, LoraConfig(r=16, alpha=32, dropout=0.0))
    text_head = DeferredTextHead(model)
    dataset = SpeechDataset(examples, load_text_tokenizer(config), PROMPT, backend)
    order = manifest["order"][: (steps + 1) * batch]
    loader = DataLoader(
        [dataset[i] for i in order], batch_size=batch, collate_fn=backend.training_collator(model.config)
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times, cpu_times, losses = [], [], []
    for inputs in loader:
        started, cpu_started = time.perf_counter(), time.process_time()
        label_audio_ids = inputs.pop("label_audio_ids")
        with text_head.deferring():
            out = model(**inputs)
        loss = higgs_loss(
            out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=text_head.head
        )
        loss.total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.total))
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    timed = times[1:]  # the first step warms caches and allocators
    return {
        "backend": name,
        "steps_per_second": len(timed) / sum(timed),
        "step_seconds": timed,
        "cpu_seconds_per_step": sum(cpu_times[1:]) / len(timed),
        "peak_bytes": rss() - base_rss,
        "first_loss": losses[0],
        "losses": losses,
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


# ---- the driver ------------------------------------------------------------------------------------------


def child(python: str, args: list[str], threads: int) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    done = subprocess.run([python, __file__, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{python} {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]


def summarize(runs: list[dict]) -> dict:
    """Median over rounds, and "best": each step's fastest time over the rounds (the same batches every
    round), the least disturbed estimate on a shared machine; CPU seconds and memory their minimum."""
    best_times = [min(column) for column in zip(*(r["step_seconds"] for r in runs), strict=True)]
    return {
        "median": {
            key: statistics.median(r[key] for r in runs)
            for key in ("steps_per_second", "cpu_seconds_per_step", "peak_bytes")
        },
        "best": {
            "steps_per_second": len(best_times) / sum(best_times),
            "cpu_seconds_per_step": min(r["cpu_seconds_per_step"] for r in runs),
            "peak_bytes": min(r["peak_bytes"] for r in runs),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each backend")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in both backends")
    parser.add_argument("--boson-python", default="/work/main/.venv/bin/python")
    parser.add_argument("--native-python", default="/work/native-venv/bin/python")
    parser.add_argument("--json", help="write the per-round results, medians and ratios here")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(Path(args.folder), 4 * args.batch * (args.steps + 1), args.batch)
        print("ok")
        return 0
    if args.variant:
        print(json.dumps(run_variant(args.variant, Path(args.folder), args.steps, args.batch, args.threads)))
        return 0

    pythons = {"boson": args.boson_python, "native": args.native_python}
    shape = ["--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.threads)]
    results: dict[str, list[dict]] = {name: [] for name in BACKENDS}
    with tempfile.TemporaryDirectory() as tmp:
        child(pythons["boson"], ["--setup", "--folder", tmp, *shape], args.threads)
        for round_ in range(args.rounds):
            for name in BACKENDS:
                out = child(pythons[name], ["--variant", name, "--folder", tmp, *shape], args.threads)
                results[name].append(json.loads(out))
                r = results[name][-1]
                print(f"round {round_ + 1} {name:<7} {r['steps_per_second']:.4f} steps/s, "
                      f"{r['peak_bytes'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)  # fmt: skip

    print(f"mid-size proxy (hidden 512, 4 layers, vocab 128256, 8 codebooks), NF4 + LoRA r=16, batch {args.batch}, "
          f"{args.steps} timed steps, {args.rounds} alternating rounds, {args.threads} threads, CPU")  # fmt: skip
    print(f"{'round':<7} {'backend':<8} {'steps/s':>8} {'CPU s/step':>10} {'peak MiB':>9} {'first loss':>12}")
    for round_ in range(args.rounds):
        for name in BACKENDS:
            r = results[name][round_]
            print(f"{round_ + 1:<7} {name:<8} {r['steps_per_second']:8.4f} {r['cpu_seconds_per_step']:10.2f} "
                  f"{r['peak_bytes'] / 2**20:9.0f} {r['first_loss']:12.6f}")  # fmt: skip
    summary = {name: summarize(runs) for name, runs in results.items()}
    for kind in ("median", "best"):
        for name in BACKENDS:
            m = summary[name][kind]
            print(f"{kind:<7} {name:<8} {m['steps_per_second']:8.4f} {m['cpu_seconds_per_step']:10.2f} "
                  f"{m['peak_bytes'] / 2**20:9.0f}")  # fmt: skip
    ratios = {
        kind: {
            key: summary["native"][kind][key] / summary["boson"][kind][key]
            for key in ("steps_per_second", "cpu_seconds_per_step", "peak_bytes")
        }
        for kind in ("median", "best")
    }
    loss_diff = abs(results["native"][0]["first_loss"] - results["boson"][0]["first_loss"])
    agree = all(
        r["first_loss"] == results["boson"][0]["first_loss"] for runs in results.values() for r in runs
    )
    trained_diff = max(
        abs(a - b) for a, b in zip(results["native"][0]["losses"], results["boson"][0]["losses"], strict=True)
    )
    trainable = {name: results[name][0]["trainable"] for name in BACKENDS}
    print()
    for kind, r in ratios.items():
        print(f"native / boson ({kind}): {r['steps_per_second']:.3f}x steps/s, {r['cpu_seconds_per_step']:.3f}x "
              f"CPU s/step, {r['peak_bytes']:.3f}x peak memory (aim: steps/s >= 0.95x)")  # fmt: skip
    print(f"first-batch loss before training: |native - boson| = {loss_diff:.3g} (boson "
          f"{results['boson'][0]['first_loss']:.6f}; same in every round: {agree}); "
          f"trainable parameters {trainable}")  # fmt: skip
    print(f"max |native - boson| loss over all {args.steps + 1} steps of round 1: {trained_diff:.3g}")
    if args.json:
        report = {
            "rounds": results,
            "summary": summary,
            "ratios": ratios,
            "first_loss_difference": loss_diff,
            "max_loss_difference": trained_diff,
            "settings": vars(args),
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
