"""The `higgs-lora` command: a verb → function table over the public API; no logic of its own.

User errors (`HiggsLoraError`) print one message and exit 2; bugs keep their traceback (exit 1).
Heavy libraries load inside the verbs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from higgs_lora.errors import HiggsLoraError, TrainingStopped


def _train(args: argparse.Namespace) -> None:
    if args.processes > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        raise SystemExit(_launch(args.processes, sys.argv[1:]))
    from higgs_lora.train import train

    train(args.recipe, name=args.name, max_steps=args.max_steps, resume=args.resume, force=args.force)


def _launch(processes: int, argv: list[str]) -> int:
    """Hand `train` over to `accelerate launch` with N processes (one per GPU, or gloo on CPU)."""
    import subprocess

    rest = [a for i, a in enumerate(argv) if a != "--processes" and (i == 0 or argv[i - 1] != "--processes")]
    rest = [a for a in rest if not a.startswith("--processes=")]
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu",  # accelerate's multi-process launcher; on a CPU-only machine it runs gloo
        "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no",  # the recipe decides (bf16 on GPUs) through the Trainer
        "--dynamo_backend", "no",
        "-m", "higgs_lora", *rest,
    ]  # fmt: skip
    print("launching:", " ".join(command[2:]), flush=True)
    return subprocess.call(command)


def _prepare(args: argparse.Namespace) -> None:
    from higgs_lora.data.prepare import prepare
    from higgs_lora.recipe import load_recipe

    result = prepare(load_recipe(args.recipe))
    print(result.summary())
    print(f"cache: {result.cache_folder} (report: prepare-report.json)")


def _merge(args: argparse.Namespace) -> None:
    from higgs_lora.merge import merge

    merge(
        args.adapter,
        out=args.out,
        base=args.base,
        dtype=args.dtype,
        device=args.device,
        force=args.force,
        trust_pickle=args.trust_pickle,
        layout=args.layout,
    )


def _convert(args: argparse.Namespace) -> None:
    from higgs_lora.backends.layouts import convert_adapter

    out = convert_adapter(args.adapter, to=args.to, out=args.out, force=args.force)
    print(f"converted {args.adapter} → {out} ({args.to} layout)")


def _export(args: argparse.Namespace) -> None:
    from higgs_lora.export import export

    print(f"exported {args.adapter} → {export(args.adapter, args.out, force=args.force)}")


def _import(args: argparse.Namespace) -> None:
    from higgs_lora.export import import_adapter

    target = import_adapter(args.package, name=args.name, adapters_root=args.adapters_dir, force=args.force)
    print(f"checksums verified; installed {args.package} → {target}")


def _speak(args: argparse.Namespace) -> None:
    from higgs_lora.speak import speak

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
    )
    print(f"wrote {args.out}: {speech.seconds:.2f} s at {speech.sample_rate} Hz")


def _eval(args: argparse.Namespace) -> None:
    from higgs_lora.evaluate.run import evaluate_adapter

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
        force=args.force,
    )
    print(report.summary())


def _adapters(args: argparse.Namespace) -> None:
    from higgs_lora.adapter import list_adapters, read_adapter

    if args.name:
        info = read_adapter(Path(args.adapters_dir) / args.name)
        for field, value in vars(info).items():
            print(f"{field:>11}: {value}")
        print(f"{'files':>11}: {', '.join(sorted(p.name for p in info.path.iterdir()))}")
        return
    adapters = list_adapters(args.adapters_dir)
    evaluated = any(a.eval_wer is not None for a in adapters)  # eval's columns only once there are figures
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
    if not rows:
        print(f"no adapters in {args.adapters_dir}/ (train one: higgs-lora train RECIPE)")
        return
    header = ("name", "base", "rank", "targets", "steps", "final loss", "size")
    header += ("eval (WER, similarity, never stopped)",) if evaluated else ()
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _loss(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def _eval_figures(info) -> str:
    if info.eval_wer is None:
        return "-"
    similarity = f"{info.eval_similarity:.2f}" if info.eval_similarity is not None else "n/a"
    return f"{info.eval_wer:.1%}, {similarity}, {info.eval_never_stopped}"


TRUST_PICKLE_HELP = "load adapter weights stored as a pickle (.bin): can run code; only for sources you trust"


def _plan(args: argparse.Namespace) -> None:
    from higgs_lora.backends import decided
    from higgs_lora.plan import plan
    from higgs_lora.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    recipe.model = decided(recipe.model)  # `auto` read once, not by every estimate below
    try:
        result = plan(recipe, args.gpu_memory, args.ref_seconds)
    except ValueError as err:
        raise HiggsLoraError(f"--gpu-memory: {err}") from None
    from higgs_lora.model.hub import describe_downloads, planned_downloads
    from higgs_lora.plan_inference import plan_verbs

    print(
        f"{recipe.name}: {recipe.model.base}, {recipe.model.quantization}, r={recipe.lora.r}, "
        f"batch {recipe.train.batch_size}, clips up to {recipe.data.max_seconds:g} s"
    )
    print("train (GPU):")
    print(result.report())
    for verb in plan_verbs(recipe, result.budget):
        print(verb.report())

    print(describe_downloads(planned_downloads(recipe.model, result.checkpoint_bytes)))


def _add_plan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file")
    parser.add_argument("--gpu-memory", help="the GPU's memory, e.g. 12GB: say whether the recipe fits")
    parser.add_argument(
        "--ref-seconds", type=float, help="reference clip length for cloning (default: max_seconds)"
    )


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file (see recipes/)")
    parser.add_argument("--name", help="adapter name, overriding the recipe's `name`")
    parser.add_argument("--max-steps", type=int, help="optimizer steps, overriding [train] max_steps")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--force", action="store_true", help="replace an existing adapter of this name")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="data-parallel processes, via accelerate launch (one per GPU)",
    )


def _add_prepare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file whose [data] to encode")


def _add_merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument("--out", help="output folder (default: ADAPTER/merged)")
    parser.add_argument("--base", help="base model to merge into (default: the one the adapter names)")
    parser.add_argument(
        "--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="weights dtype (bf16)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to merge; auto: the GPU if the full-precision model fits its free memory, else CPU",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_PICKLE_HELP)
    parser.add_argument(
        "--layout",
        default=None,
        choices=["boson", "native"],
        help="checkpoint layout: boson (boson-multimodal's HiggsAudioModel) or native (transformers >= 5.3); "
        "default: the layout of the backend that merges",
    )


def _add_convert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument(
        "--to",
        required=True,
        choices=["native", "boson"],
        help="native: for transformers >= 5.3 HiggsAudioV2ForConditionalGeneration; boson: for this kit",
    )
    parser.add_argument("--out", help="output folder (default: ADAPTER-native or ADAPTER-boson beside it)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def _add_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument("--out", required=True, help="package path: a .zip file or a folder")
    parser.add_argument("--force", action="store_true", help="replace an existing package")


def _add_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", help="a .zip or folder made by higgs-lora export")
    parser.add_argument("--name", help="adapter name (default: the package's)")
    parser.add_argument("--adapters-dir", default="adapters", help="where adapters live (adapters)")
    parser.add_argument("--force", action="store_true", help="replace an existing adapter of this name")


def _add_speak(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", required=True, help="what to say")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--adapter", help="adapter folder (merged into its base in memory)")
    source.add_argument("--model", help="merged model folder (from higgs-lora merge)")
    parser.add_argument("--ref", help="reference clip to clone the voice from (with --ref-text)")
    parser.add_argument("--ref-text", help="transcript of the reference clip")
    parser.add_argument("--out", default="speech.wav", help="WAV file to write (speech.wav)")
    parser.add_argument("--seed", type=int, help="sampling seed: the same seed gives the same audio")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature; 0 = greedy")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="longest audio to generate (30)")
    parser.add_argument("--audio-tokenizer", help="override the audio tokenizer the adapter/model names")
    parser.add_argument(
        "--quantization",
        default="auto",
        choices=["auto", "nf4", "none"],
        help="none: adapter merged into full-precision weights; nf4: the 4-bit base it was trained on, "
        "adapter unmerged (fits 12 GB); auto: none when it fits the GPU (always on CPU), else nf4",
    )
    parser.add_argument(
        "--compute-dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="auto: bf16 on a GPU that has it, fp32 on CPU",
    )
    parser.add_argument(
        "--system-prompt", help="override the system prompt (default: the one the adapter was trained with)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_PICKLE_HELP)


def _add_eval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument("--texts", help="file of sentences, one per line, instead of the 20 built-in ones")
    parser.add_argument(
        "--checkpoints", action="store_true", help="also each checkpoint in ADAPTER/checkpoints"
    )
    parser.add_argument("--against", default="base", help="compare with: base (default) or adapters/OTHER")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="length limit per sentence (20)")
    parser.add_argument("--seed", type=int, default=0, help="sentence i is sampled with seed + i (0)")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (0.7)")
    parser.add_argument(
        "--asr",
        default="auto",
        help="Whisper id or folder; auto: whisper-large-v3-turbo on GPU, small on CPU",
    )
    parser.add_argument(
        "--speaker-model",
        default="resemblyzer",
        help="resemblyzer (default, offline) or wavlm (microsoft/wavlm-base-plus-sv, a download)",
    )
    parser.add_argument("--language", default="en", help="language of the texts, for Whisper (en)")
    parser.add_argument("--data", help="training data, if it moved since training (default: as trained)")
    parser.add_argument("--force", action="store_true", help="replace an earlier ADAPTER/eval/")


def _add_adapters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show one adapter in detail")
    parser.add_argument("--adapters-dir", default="adapters", help="where adapters live (adapters)")


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
    import json

    from higgs_lora.dataset import Thresholds, check_dataset

    report = check_dataset(args.path, _limits(args), Thresholds(min_snr_db=args.min_snr_db))
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.summary())


def _dataset_review(args: argparse.Namespace) -> None:
    from higgs_lora.dataset import ReviewServer

    server = ReviewServer(args.path, port=args.port)
    print(f"reviewing {args.path} at {server.url} (Ctrl-C to stop)", flush=True)
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


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-seconds", type=float, default=1.0, help="shortest clip (1)")
    parser.add_argument("--max-seconds", type=float, default=15.0, help="longest clip (15)")
    parser.add_argument("--min-snr-db", type=float, default=15.0, help="drop clips noisier than this (15 dB)")


def _add_dataset(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="dataset_verb", required=True, metavar="STEP")
    build = verbs.add_parser("build", help="cut, transcribe and clean recordings into a data set")
    build.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (any length)")
    build.add_argument("--out", required=True, help="data set folder to create or finish, e.g. data/NAME")
    build.add_argument("--language", help="language code for Whisper (en, de, ...); default: detect")
    build.add_argument("--speaker", help="speaker name in the manifest (default: the --out folder's name)")
    build.add_argument("--format", default="jsonl", choices=["jsonl", "ljspeech"], help="manifest (jsonl)")
    build.add_argument(
        "--asr-model",
        help="Whisper hub id or folder (default: whisper-large-v3-turbo on GPU, whisper-small on CPU)",
    )
    build.add_argument("--device", default="auto", help="auto, cpu or cuda (for Whisper)")
    build.add_argument("--asr-batch-size", type=int, default=8, help="clips per Whisper batch (8)")
    build.add_argument("--sample-rate", type=int, default=24000, help="rate of the written clips (24000)")
    build.add_argument("--target-lufs", type=float, default=-23.0, help="loudness of every clip (-23 LUFS)")
    _add_limits(build)
    build.set_defaults(dataset_run=_dataset_build)
    check = verbs.add_parser("check", help="run the same checks on an existing data set; changes nothing")
    check.add_argument("path", help="data set folder or manifest")
    check.add_argument("--json", action="store_true", help="print the full report as JSON")
    _add_limits(check)
    check.set_defaults(dataset_run=_dataset_check)
    review = verbs.add_parser("review", help="serve the review page; saves transcript fixes and drops")
    review.add_argument("path", help="data set folder made by dataset build")
    review.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (8765; 0: any free one)")
    review.set_defaults(dataset_run=_dataset_review)


def _dataset(args: argparse.Namespace) -> None:
    args.dataset_run(args)


VERBS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]
] = {
    "train": ("train a LoRA adapter from a recipe → adapters/<name>/", _add_train, _train),
    "prepare": (
        "encode a recipe's audio into the codes cache (train does this itself)",
        _add_prepare,
        _prepare,
    ),
    "plan": ("predict peak GPU memory of a recipe before running it", _add_plan, _plan),
    "merge": ("fold an adapter into full-precision base weights → a checkpoint", _add_merge, _merge),
    "convert": (
        "rename an adapter's weights between the boson and transformers-native layouts",
        _add_convert,
        _convert,
    ),
    "speak": ("generate speech with an adapter or a merged model → WAV", _add_speak, _speak),
    "eval": (
        "is the voice any good? WER, speaker similarity, stopping; vs the base → ADAPTER/eval/",
        _add_eval,
        _eval,
    ),
    "export": ("package an adapter (.zip or folder) with checksums and a model card", _add_export, _export),
    "import": ("verify and install an exported adapter package into adapters/", _add_import, _import),
    "adapters": ("list trained adapters, or show one", _add_adapters, _adapters),
    "dataset": (
        "build a data set from long recordings (build), check one (check), fix it (review)",
        _add_dataset,
        _dataset,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="higgs-lora", description="QLoRA fine-tuning for the Higgs Audio v2 text-to-speech model."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (help_text, add_arguments, run) in VERBS.items():
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except TrainingStopped as err:
        print(f"higgs-lora {args.verb}: {err}", file=sys.stderr)
        return err.exit_code
    except HiggsLoraError as err:
        print(f"higgs-lora {args.verb}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"higgs-lora {args.verb}: interrupted", file=sys.stderr)
        return 130
    return 0


def _version() -> str:
    from higgs_lora import __version__

    return __version__
