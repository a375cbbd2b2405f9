"""The kit's user-facing errors: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations


class HiggsLoraError(Exception):
    """Something the user can fix: a bad recipe, bad data, a folder in the way."""


class RecipeError(HiggsLoraError):
    """The recipe file is malformed or holds values outside what is allowed."""


class DataError(HiggsLoraError):
    """The dataset cannot be read or holds nothing usable."""


class ModelError(HiggsLoraError):
    """The base model, tokenizers or LoRA targets do not fit the recipe."""


class OutputExistsError(HiggsLoraError):
    """Writing would overwrite a user's adapter or checkpoint."""
