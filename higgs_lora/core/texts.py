"""The sentences an adapter is judged on: a fixed built-in list, a user's file, the held-out split.

The built-in list mixes what breaks TTS voices in practice: numbers and dates, questions and
exclamations, very short and long sentences, lists, names and abbreviations. It never changes between
releases without a new name, so figures stay comparable across adapters and runs.
"""

from __future__ import annotations

from pathlib import Path

from higgs_lora.core.errors import HiggsLoraError

BUILTIN_TEXTS: tuple[str, ...] = (
    "Hello.",
    "The quick brown fox jumps over the lazy dog.",
    "Is this really my voice?",
    "Please call me back after twelve thirty.",
    "The train leaves at 7:45 from platform 9.",
    "She bought 3 apples, 2 pears and 14 oranges.",
    "Why would anyone want to leave so early?",
    "Wait!",
    "Thank you very much for coming today.",
    "In 1969, two astronauts walked on the moon for the first time.",
    "Could you tell me where the nearest library is?",
    "My phone number ends in four, five, six.",
    "Doctor Smith will see you on Monday morning.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "Turn left at the second light, then keep going straight for about two miles.",
    "Yes, of course.",
    "The recipe calls for 250 grams of flour and a pinch of salt.",
    "Did you remember to lock the door before we left the house?",
    "Every morning she walks her dog along the river, listens to the birds, and watches the sun rise "
    "over the hills before going to work.",
    "No.",
)
"""Twenty sentences: numbers, questions, long and short (seeded generation makes them repeatable)."""

TRAINING_TEXTS: tuple[str, ...] = BUILTIN_TEXTS
"""The default for `[eval] texts` during training: all twenty built-in sentences (about 190 words, one
word 0.5 % WER). Four (27 words: one word 3.7 %) made the best step follow the sentences' noise."""


def read_texts(path: str | Path) -> list[str]:
    """One sentence per line; blank lines and lines starting with '#' are skipped."""
    path = Path(path)
    if not path.is_file():
        raise HiggsLoraError(f"--texts {path}: file not found. Give a text file with one sentence per line.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise HiggsLoraError(f"--texts {path}: not UTF-8 text ({err.reason} at byte {err.start}).") from None
    texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not texts:
        raise HiggsLoraError(f"--texts {path}: no sentences in it (one per line; '#' starts a comment).")
    return texts
