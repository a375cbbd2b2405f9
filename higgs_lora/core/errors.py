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


class TrainingStopped(HiggsLoraError):
    """Training stopped early on purpose (a signal) or for safety (non-finite loss); work is saved.

    `exit_code` is what the CLI exits with: 128 + signal number for a signal, 1 for a diverged loss.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
