"""The arguments of each `higgs-lora` verb: one function per verb, named after it, filling its parser."""

from __future__ import annotations

import argparse

from higgs_lora.higgs.sampling import SAMPLING

TRUST_PICKLE_HELP = "load adapter weights stored as a pickle (.bin): can run code; only for sources you trust"


def train(parser: argparse.ArgumentParser) -> None:
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


def prepare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file whose [data] to encode")


def plan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file")
    parser.add_argument("--gpu-memory", help="the GPU's memory, e.g. 12GB: say whether the recipe fits")
    parser.add_argument(
        "--ref-seconds", type=float, help="reference clip length for cloning (default: max_seconds)"
    )


def merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument("--out", help="output folder (default: ADAPTER/merged)")
    parser.add_argument("--base", help="base model to merge into (default: the one the adapter names)")
    parser.add_argument(
        "--dtype",
        default="fp32",
        choices=["fp32", "fp16", "bf16"],
        help="weights dtype (fp32: keeps all of the adapter; fp16/bf16 halve the size and round part of a "
        "trained adapter away: written only if they keep --min-kept of its effect)",
    )
    parser.add_argument(
        "--min-kept",
        type=float,
        default=0.9,
        help="refuse (nothing written) a merge whose weights keep less than this share of the adapter's "
        "effect on the probe batch (0.9; 0 writes it whatever it keeps)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to merge (in fp32); auto: the GPU if the fp32 model fits its free memory, else CPU",
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


def convert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument(
        "--to",
        required=True,
        choices=["native", "boson"],
        help="native: for transformers >= 5.3 HiggsAudioV2ForConditionalGeneration; boson: for this kit",
    )
    parser.add_argument("--out", help="output folder (default: ADAPTER-native or ADAPTER-boson beside it)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def speak(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", required=True, help="what to say")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--adapter", help="adapter folder (applied to its base, unmerged)")
    source.add_argument("--model", help="merged model folder (from higgs-lora merge)")
    parser.add_argument("--ref", help="reference clip to clone the voice from (with --ref-text)")
    parser.add_argument("--ref-text", help="transcript of the reference clip")
    parser.add_argument("--out", default="speech.wav", help="WAV file to write (speech.wav)")
    parser.add_argument("--seed", type=int, help="sampling seed: the same seed gives the same audio")
    parser.add_argument(
        "--temperature",
        type=float,
        default=SAMPLING.temperature,
        help=f"sampling temperature; 0 = greedy: argmax, no top-p, top-k or RAS. Otherwise, on both "
        f"backends, boson's serve engine defaults: {SAMPLING.describe()} (docs/speaking.md)",
    )
    parser.add_argument("--max-seconds", type=float, default=30.0, help="longest audio to generate (30)")
    parser.add_argument("--audio-tokenizer", help="override the audio tokenizer the adapter/model names")
    parser.add_argument(
        "--quantization",
        default="auto",
        choices=["auto", "nf4", "none"],
        help="none: the full-precision base; nf4: the 4-bit base (fits 12 GB); the adapter unmerged on "
        "either; auto: as training loaded the base ([model] quantization, as [samples]/[eval] and eval "
        "hear it; for --model: none when it fits the GPU, else nf4)",
    )
    parser.add_argument(
        "--compute-dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="auto: as the adapter was trained ([model] compute_dtype; its auto: bf16 on a GPU that has it, "
        "fp32 on CPU); a merged model on a GPU: the dtype it was merged in",
    )
    parser.add_argument(
        "--system-prompt", help="override the system prompt (default: the one the adapter was trained with)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_PICKLE_HELP)
    parser.add_argument(
        "--base-only",
        action="store_true",
        help="speak with the adapter's base alone, as training loaded it (with --seed: what the adapter changed)",
    )


def eval_(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument("--texts", help="file of sentences, one per line, instead of the 20 built-in ones")
    parser.add_argument(
        "--checkpoints", action="store_true", help="also each checkpoint in ADAPTER/checkpoints"
    )
    parser.add_argument("--against", default="base", help="compare with: base (default) or adapters/OTHER")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="length limit per sentence (20)")
    parser.add_argument("--seed", type=int, default=0, help="sentence i is sampled with seed + i (0)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=SAMPLING.temperature,
        help=f"sampling temperature ({SAMPLING.temperature:g}); 0 = greedy. The rest as speak --help says",
    )
    parser.add_argument(
        "--asr",
        default="auto",
        help="Whisper id or folder; auto: whisper-large-v3-turbo on GPU, small on CPU",
    )
    parser.add_argument(
        "--speaker-model",
        default="auto",
        help="auto (default): WavLM (microsoft/wavlm-base-plus-sv) if downloaded, else resemblyzer "
        "(offline, weaker); wavlm (downloads it), wavlm:PATH, resemblyzer",
    )
    parser.add_argument("--language", default="en", help="language of the texts, for Whisper (en)")
    parser.add_argument("--data", help="training data, if it moved since training (default: as trained)")
    parser.add_argument(
        "--quantization",
        default="auto",
        choices=["auto", "nf4", "none"],
        help="as speak's (auto: the base as training loaded it, the adapter unmerged, as speak by default)",
    )
    parser.add_argument(
        "--protocol",
        nargs=2,
        metavar=("NAME", "LIST"),
        help="score a public test list instead: seed-tts PATH/meta.lst (Seed-TTS-eval; each target cloned "
        "from its prompt and compared with it; ASR whisper-large-v3)",
    )
    parser.add_argument("--force", action="store_true", help="replace an earlier ADAPTER/eval/")


def export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="adapter folder, e.g. adapters/NAME")
    parser.add_argument("--out", required=True, help="package path: a .zip file or a folder")
    parser.add_argument("--force", action="store_true", help="replace an existing package")


def import_(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", help="a .zip or folder made by higgs-lora export")
    parser.add_argument("--name", help="adapter name (default: the package's)")
    parser.add_argument("--adapters-dir", default="adapters", help="where adapters live (adapters)")
    parser.add_argument("--force", action="store_true", help="replace an existing adapter of this name")


def adapters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show one adapter in detail")
    parser.add_argument("--adapters-dir", default="adapters", help="where adapters live (adapters)")
    parser.add_argument(
        "--keep",
        metavar="CHECKPOINT",
        help="keep NAME's checkpoint-N as an adapter of its own → ADAPTERS_DIR/NAME-step-N (or --as)",
    )
    parser.add_argument("--as", dest="keep_as", metavar="NEW", help="name of the kept adapter")
    parser.add_argument("--force", action="store_true", help="with --keep: replace an existing folder")


def dataset(parser: argparse.ArgumentParser) -> None:
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
    _limits(build)
    check = verbs.add_parser("check", help="run the same checks on an existing data set; changes nothing")
    check.add_argument("path", help="data set folder or manifest")
    check.add_argument("--json", action="store_true", help="print the full report as JSON")
    check.add_argument(
        "--eval-fraction",
        type=float,
        help="the recipe's [data] eval_fraction, for the train/eval leakage report (default: the recipe default)",
    )
    check.add_argument("--seed", type=int, help="the recipe's [train] seed, for the same split (default 42)")
    _limits(check)
    review = verbs.add_parser("review", help="serve the review page; saves transcript fixes and drops")
    review.add_argument("path", help="data set folder made by dataset build")
    review.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (8765; 0: any free one)")


def studio(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "project", nargs="?", default=".", help="project folder (created if new; default: this folder)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (7860; 0: any free one)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1: this machine only; anyone who reaches the page can train, "
        "read and write the project)",
    )


def _limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-seconds", type=float, default=1.0, help="shortest clip (1)")
    parser.add_argument("--max-seconds", type=float, default=15.0, help="longest clip (15)")
    parser.add_argument("--min-snr-db", type=float, default=15.0, help="drop clips noisier than this (15 dB)")
