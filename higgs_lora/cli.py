"""The `higgs-lora` command: a verb → function table over the public API; no logic of its own.

User errors (`HiggsLoraError`) print one message and exit 2; bugs keep their traceback (exit 1).
Heavy libraries load inside the verbs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from .errors import HiggsLoraError


def _train(args: argparse.Namespace) -> None:
    from .train import train

    train(args.recipe, name=args.name, max_steps=args.max_steps, resume=args.resume, force=args.force)


def _prepare(args: argparse.Namespace) -> None:
    from .data.prepare import prepare
    from .recipe import load_recipe

    result = prepare(load_recipe(args.recipe))
    print(result.summary())
    print(f"cache: {result.cache_folder} (report: prepare-report.json)")


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file (see recipes/)")
    parser.add_argument("--name", help="adapter name, overriding the recipe's `name`")
    parser.add_argument("--max-steps", type=int, help="optimizer steps, overriding [train] max_steps")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--force", action="store_true", help="replace an existing adapter of this name")


def _add_prepare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file whose [data] to encode")


VERBS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]
] = {
    "train": ("train a LoRA adapter from a recipe → adapters/<name>/", _add_train, _train),
    "prepare": (
        "encode a recipe's audio into the codes cache (train does this itself)",
        _add_prepare,
        _prepare,
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
    except HiggsLoraError as err:
        print(f"higgs-lora {args.verb}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"higgs-lora {args.verb}: interrupted", file=sys.stderr)
        return 130
    return 0


def _version() -> str:
    from . import __version__

    return __version__
