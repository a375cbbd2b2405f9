"""The `higgs-lora` command: a table of verbs over the public API, and nothing else.

Each row names a verb, its one-line help, the function that declares its arguments (`cli.arguments`)
and the one that calls the API and prints (`cli.commands`). User errors (`HiggsLoraError`) print one
message and exit 2; bugs keep their traceback (exit 1). Heavy libraries load inside the commands, so
`--help` is instant. A new verb is one row here, one function in each of those two modules.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from higgs_lora.cli import arguments, commands
from higgs_lora.core.errors import HiggsLoraError, TrainingStopped
from higgs_lora.core.version import __version__

Declare = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], None]

VERBS: dict[str, tuple[str, Declare, Run]] = {
    "train": ("train a LoRA adapter from a recipe → adapters/<name>/", arguments.train, commands.train),
    "prepare": (
        "encode a recipe's audio into the codes cache (train does this itself)",
        arguments.prepare,
        commands.prepare,
    ),
    "plan": ("predict peak GPU memory of a recipe before running it", arguments.plan, commands.plan),
    "merge": (
        "fold an adapter into full-precision base weights → a checkpoint",
        arguments.merge,
        commands.merge,
    ),
    "convert": (
        "rename an adapter's weights between the boson and transformers-native layouts",
        arguments.convert,
        commands.convert,
    ),
    "speak": ("generate speech with an adapter or a merged model → WAV", arguments.speak, commands.speak),
    "eval": (
        "is the voice any good? WER, speaker similarity, stopping; vs the base → ADAPTER/eval/",
        arguments.eval_,
        commands.eval_,
    ),
    "export": (
        "package an adapter (.zip or folder) with checksums and a model card",
        arguments.export,
        commands.export,
    ),
    "import": (
        "verify and install an exported adapter package into adapters/",
        arguments.import_,
        commands.import_,
    ),
    "adapters": ("list trained adapters, or show one", arguments.adapters, commands.adapters),
    "dataset": (
        "build a data set from long recordings (build), check one (check), fix it (review)",
        arguments.dataset,
        commands.dataset,
    ),
    "studio": (
        "the whole workflow in a local web page (data, recipe, train, listen, use) → 127.0.0.1",
        arguments.studio,
        commands.studio,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="higgs-lora", description="QLoRA fine-tuning for the Higgs Audio v2 text-to-speech model."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (help_text, declare, run) in VERBS.items():
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        declare(sub)
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
