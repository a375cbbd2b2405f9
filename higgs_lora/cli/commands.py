"""What each `higgs-lora` verb runs: parsed arguments → one call of the public API → what it prints.

The API is imported inside each command, so `higgs-lora --help` loads none of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from higgs_lora.cli.launch import launch
from higgs_lora.core.downloads import describe_downloads
from higgs_lora.core.errors import HiggsLoraError


def train(args: argparse.Namespace) -> None:
    if args.processes > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        raise SystemExit(launch(args.processes, sys.argv[1:]))
    from higgs_lora import train

    train(args.recipe, name=args.name, max_steps=args.max_steps, resume=args.resume, force=args.force)


def prepare(args: argparse.Namespace) -> None:
    from higgs_lora import prepare

    result = prepare(args.recipe)
    print(result.summary())
    print(f"cache: {result.cache_folder} (report: prepare-report.json)")


def plan(args: argparse.Namespace) -> None:
    from higgs_lora import plan_recipe

    result = plan_recipe(args.recipe, args.gpu_memory, args.ref_seconds)
    recipe = result.recipe
    print(
        f"{recipe.name}: {recipe.model.base}, {recipe.model.quantization}, r={recipe.lora.r}, "
        f"batch {recipe.train.batch_size}, clips up to {recipe.data.max_seconds:g} s"
    )
    print("train (GPU):")
    print(result.training.report())
    for verb in result.verbs:
        print(verb.report())
    print(describe_downloads(result.downloads))


def merge(args: argparse.Namespace) -> None:
    from higgs_lora import merge

    merge(
        args.adapter,
        out=args.out,
        base=args.base,
        dtype=args.dtype,
        min_kept=args.min_kept,
        device=args.device,
        force=args.force,
        trust_pickle=args.trust_pickle,
        layout=args.layout,
    )


def convert(args: argparse.Namespace) -> None:
    from higgs_lora import convert_adapter

    out = convert_adapter(args.adapter, to=args.to, out=args.out, force=args.force)
    print(f"converted {args.adapter} → {out} ({args.to} layout)")


def speak(args: argparse.Namespace) -> None:
    from higgs_lora import speak

    speech = speak(
        args.text,
        adapter=args.adapter,
        model=args.model,
        ref_audio=args.ref,
        ref_text=args.ref_text,
        out=args.out,
        seed=args.seed,
        temperature=args.temperature,
        max_seconds=args.max_seconds,
        audio_tokenizer=args.audio_tokenizer,
        quantization=args.quantization,
        compute_dtype=args.compute_dtype,
        system_prompt=args.system_prompt,
        force=args.force,
        trust_pickle=args.trust_pickle,
        base_only=args.base_only,
    )
    print(f"wrote {args.out}: {speech.seconds:.2f} s at {speech.sample_rate} Hz")


def eval_(args: argparse.Namespace) -> None:
    from higgs_lora import evaluate_adapter

    report = evaluate_adapter(
        args.adapter,
        texts=args.texts,
        checkpoints=args.checkpoints,
        against=args.against,
        max_seconds=args.max_seconds,
        seed=args.seed,
        temperature=args.temperature,
        asr=args.asr,
        speaker_model=args.speaker_model,
        language=args.language,
        data=args.data,
        quantization=args.quantization,
        protocol=tuple(args.protocol) if args.protocol else None,
        force=args.force,
    )
    print(report.summary())


def export(args: argparse.Namespace) -> None:
    from higgs_lora import export
    from higgs_lora.adapter.files import recipe_value
    from higgs_lora.core.licenses import license_notice

    print(f"exported {args.adapter} → {export(args.adapter, args.out, force=args.force)}")
    notice = license_notice(recipe_value(args.adapter, "model", "backend", None))
    if notice is not None:
        print(notice)


def import_(args: argparse.Namespace) -> None:
    from higgs_lora import import_adapter

    target = import_adapter(args.package, name=args.name, adapters_root=args.adapters_dir, force=args.force)
    print(f"checksums verified; installed {args.package} → {target}")


def adapters(args: argparse.Namespace) -> None:
    from higgs_lora import keep_checkpoint, list_adapters, read_adapter

    if args.keep:
        if not args.name:
            raise HiggsLoraError("--keep CHECKPOINT: name the adapter whose checkpoint to keep")
        kept = keep_checkpoint(
            Path(args.adapters_dir) / args.name, args.keep, name=args.keep_as, force=args.force
        )
        print(f"kept {args.name}/checkpoints/{args.keep} → {kept}")
        return
    if args.name:
        info = read_adapter(Path(args.adapters_dir) / args.name)
        for field, value in vars(info).items():
            print(f"{field:>11}: {value}")
        print(f"{'files':>11}: {', '.join(sorted(p.name for p in info.path.iterdir()))}")
        return
    found = list_adapters(args.adapters_dir)
    if not found:
        print(f"no adapters in {args.adapters_dir}/ (train one: higgs-lora train RECIPE)")
        return
    print(adapter_table(found))


def dataset(args: argparse.Namespace) -> None:
    {"build": _dataset_build, "check": _dataset_check, "review": _dataset_review}[args.dataset_verb](args)


def _dataset_build(args: argparse.Namespace) -> None:
    from higgs_lora.dataset import BuildOptions, Thresholds, build_dataset

    options = BuildOptions(
        data_format=args.format,
        speaker=args.speaker or Path(args.out).name,
        language=args.language,
        asr_model=args.asr_model,
        sample_rate=args.sample_rate,
        limits=_limits(args),
        thresholds=Thresholds(target_lufs=args.target_lufs, min_snr_db=args.min_snr_db),
    )
    report = build_dataset(
        args.inputs, args.out, options, device=args.device, asr_batch_size=args.asr_batch_size
    )
    print(report.summary())


def _dataset_check(args: argparse.Namespace) -> None:
    from higgs_lora.dataset import Thresholds, check_dataset

    report = check_dataset(
        args.path,
        _limits(args),
        Thresholds(min_snr_db=args.min_snr_db),
        eval_fraction=args.eval_fraction,
        seed=args.seed,
    )
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.summary())


def _dataset_review(args: argparse.Namespace) -> None:
    from higgs_lora.dataset import ReviewServer

    server = ReviewServer(args.path, port=args.port)
    print(f"reviewing {args.path} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.close()


def studio(args: argparse.Namespace) -> None:
    from higgs_lora.studio import StudioServer

    server = StudioServer(args.project, port=args.port, host=args.host)
    print(
        f"studio of {server.project.root} at {server.url} (Ctrl-C to stop; a training run goes on)",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.close()


def _limits(args: argparse.Namespace):  # -> Limits
    from higgs_lora.dataset import Limits

    try:
        return Limits(min_seconds=args.min_seconds, max_seconds=args.max_seconds)
    except ValueError as err:
        raise HiggsLoraError(f"--min-seconds/--max-seconds: {err}") from None


def adapter_table(adapters: list) -> str:
    """`higgs-lora adapters`: one row per adapter; eval's column only once some adapter has figures."""
    evaluated = any(a.eval_wer is not None for a in adapters)
    rows = [
        (
            a.name,
            a.base,
            str(a.rank),
            a.targets,
            str(a.steps or "-"),
            _loss(a.final_loss),
            f"{a.size_bytes / 2**20:.1f} MB",
            *((_eval_figures(a),) if evaluated else ()),
        )
        for a in adapters
    ]
    header = ("name", "base", "rank", "targets", "steps", "final loss", "size")
    header += ("eval (WER, similarity, never stopped)",) if evaluated else ()
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _loss(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def _eval_figures(info) -> str:
    if info.eval_wer is None:
        return "-"
    similarity = f"{info.eval_similarity:.2f}" if info.eval_similarity is not None else "n/a"
    return f"{info.eval_wer:.1%}, {similarity}, {info.eval_never_stopped}"
