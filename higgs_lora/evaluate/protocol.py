"""Public test lists: Seed-TTS-eval's `meta.lst`, so an adapter and its base are scored on the sentences
and prompts the field publishes figures for.

Each line is `utterance id|prompt text|prompt wav|target text` (a fifth field, the target's own
recording in some sets, is ignored); the prompt wav is relative to the list's folder. Each target is
spoken cloning its own prompt, and its similarity is measured against that prompt clip, as
Seed-TTS-eval does (WER with Whisper-large-v3, similarity with a WavLM speaker-verification model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from higgs_lora.core.audio import AudioProblem, audio_seconds
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.evaluate.metrics import normalise, speaking_rate

PROTOCOLS = ("seed-tts",)
PROTOCOL_ASR = "openai/whisper-large-v3"
"""Seed-TTS-eval's English ASR; `--asr` still overrides it."""
PUBLISHED = {"seed-tts": "Higgs Audio v2 base, Seed-TTS-eval English: WER 2.44, SIM 67.70"}


@dataclass(frozen=True)
class ProtocolItem:
    id: str
    prompt_text: str
    prompt_wav: Path
    target_text: str
    where: str
    """file:line, for messages."""


def read_protocol(name: str, path: str | Path) -> list[ProtocolItem]:
    """The items of a `meta.lst`; every bad line is reported with its file and line, none skipped."""
    if name not in PROTOCOLS:
        raise HiggsLoraError(f"--protocol {name!r}: known protocols are {', '.join(PROTOCOLS)}.")
    path = Path(path)
    if not path.is_file():
        raise HiggsLoraError(f"--protocol {name} {path}: file not found (Seed-TTS-eval's meta.lst).")
    items, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.split("|")
        if len(fields) not in (4, 5):
            problems.append(f"{where}: {len(fields)} fields; want id|prompt text|prompt wav|target text")
            continue
        utterance, prompt_text, wav, target = (field.strip() for field in fields[:4])
        prompt = (path.parent / wav).resolve()
        if not normalise(target):
            problems.append(f"{where}: target text {target!r} has no words to score")
        elif not prompt.is_file():
            problems.append(f"{where}: prompt wav {wav} not found (looked for {prompt})")
        else:
            items.append(ProtocolItem(utterance, prompt_text, prompt, target, where))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise HiggsLoraError("; ".join(problems[:5]) + more)
    if not items:
        raise HiggsLoraError(f"--protocol {name} {path}: no items in it.")
    return items


def prompt_speaking_rate(items: list[ProtocolItem]) -> float:
    """Characters per second of the prompts: what the expected duration of each target is based on."""
    texts, seconds = [], []
    for item in items:
        try:
            seconds.append(audio_seconds(item.prompt_wav))
        except AudioProblem as err:
            raise HiggsLoraError(f"{item.where}: prompt wav {item.prompt_wav}: {err}") from None
        texts.append(item.prompt_text)
    return speaking_rate(texts, seconds)
