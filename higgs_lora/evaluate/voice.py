"""What the training data says about the voice: clips to compare against, speaking rate, reference.

eval needs three things from the adapter's data set: a sample of its clips (the voice that speaker
similarity is measured against), its speaking rate (characters per second, for the duration expected
from a text) and, for adapters trained in the voice-cloning layout, the reference clip to prompt with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from higgs_lora.core.audio import AudioProblem, audio_seconds
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.schema import Recipe
from higgs_lora.data.sources import read_clips
from higgs_lora.evaluate.metrics import speaking_rate

VOICE_CLIPS = 16
"""At most this many training clips (evenly spread over the data set) make the voice centroid."""


@dataclass(frozen=True)
class TrainingVoice:
    clips: tuple[Path, ...]
    """Clips whose mean speaker embedding is the voice similarity is measured against (never the
    reference clip the samples are cloned from)."""
    chars_per_second: float
    ref_audio: Path | None = None
    """Reference clip for adapters trained in the voice-cloning layout (None otherwise)."""
    ref_text: str | None = None


def training_voice(recipe: Recipe, data_path: Path) -> TrainingVoice:
    """Read the data set the recipe trained on (headers only, nothing decoded) the way `prepare` keeps
    clips: a transcript, a duration within `[data]` min_seconds..max_seconds, a reference when needed.

    The reference for cloning is the first kept clip's (`same_speaker`: the clip itself, `manifest`:
    its row's ref_audio/ref_text), the same one for every sentence and for every system compared.
    """
    data = recipe.data
    clips, _ = read_clips(data_path, data.format)
    kept: list[tuple[Path, str, float, Path | None, str | None]] = []
    for clip in clips:
        if not clip.text or (data.reference == "manifest" and (clip.ref_audio is None or not clip.ref_text)):
            continue
        try:
            seconds = audio_seconds(clip.audio)
        except AudioProblem:
            continue
        if data.min_seconds <= seconds <= data.max_seconds:
            kept.append((clip.audio, clip.text, seconds, clip.ref_audio, clip.ref_text))
    if not kept:
        raise HiggsLoraError(
            f"{data_path}: no usable training clips found to compare the voice against "
            "(is this the data set the adapter was trained on? pass --data)."
        )
    rate = speaking_rate([item[1] for item in kept], [item[2] for item in kept])
    first = kept[0]
    ref_audio, ref_text = {
        "none": (None, None),
        "manifest": (first[3], first[4]),
        "same_speaker": (first[0], first[1]),
    }[data.reference]
    # The prompt clip stays out of the voice: a sample cloned from it would partly be compared with
    # the very clip it copies, and similarity would reward copying the prompt over learning the voice.
    others = [item for item in kept if ref_audio is None or not _same_file(item[0], ref_audio)]
    if not others:
        raise HiggsLoraError(
            f"{data_path}: the only usable clip is the reference clip {ref_audio}; speaker similarity needs "
            "at least one other clip of the voice to compare against (add clips, or pass --data)."
        )
    step = max(1, len(others) // VOICE_CLIPS)
    chosen = tuple(item[0] for item in others[::step][:VOICE_CLIPS])
    return TrainingVoice(chosen, rate, ref_audio, ref_text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False
