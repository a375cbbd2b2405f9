"""The figures eval reports for one spoken sample, and their aggregates.

- Intelligibility: word and character error rates (jiwer) of an ASR transcript against the text, both
  passed through the same normaliser first: Whisper's English normaliser (transformers'
  `EnglishTextNormalizer`, as Whisper's and most TTS papers' English WER use it) with no spelling map:
  lower case, punctuation and bracketed asides removed, contractions and titles expanded ("don't" → "do
  not", "Dr." → "doctor"), spelled-out numbers turned into digits ("forty-two" → "42"). British and
  American spellings are not unified. Then `join_numbers`: Whisper's normaliser writes "12:30" as
  "12 30" but "twelve thirty" as "1230", and "4, 5, 6" as "4 5 6" but "four, five, six" as "456", so
  perfect speech scored up to 50 % WER; adjacent digit groups are joined on both sides, and numbers
  written as words or digits score alike. Corpus figures are total edits over total reference words/chars.
- Speaker similarity: cosine similarity between a sample's speaker embedding and the centroid of the
  training clips' embeddings. Default encoder (`auto`): WavLM x-vectors (`microsoft/wavlm-base-plus-sv`,
  a speaker-verification model of the class Seed-TTS-eval scores with) when they are in the local hub
  cache, else Resemblyzer's GE2E `VoiceEncoder` (its weights ship in the pip package, so it works
  offline; far weaker at telling speakers apart: EER ~9 % against ≤ 2 %). The report says which scored.
- Stopping: whether generation ended with the audio stream's EOS before the length limit; duration
  against the duration expected from the text at the training clips' speaking rate; share of silence.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from higgs_lora.core.errors import HiggsLoraError

SILENCE_FRAME_SECONDS = 0.02
SILENCE_FLOOR_DB = -45.0
"""A 20 ms frame is silent below -45 dBFS RMS, or more than 40 dB below the clip's loudest frame."""
SILENCE_RANGE_DB = 40.0
DURATION_OK = (0.5, 2.0)
"""A duration ratio outside this range (half to twice the expected length) counts as off."""
SILENT_SHARE = 0.9
"""A sample this silent (share of silent frames) has said nothing: it fails as `silent`."""
GIVE_UP_MARGIN_SECONDS = 1.0
"""A sentence is given up at DURATION_OK[1] × its expected length + this: longer is off either way."""
BOOTSTRAP_DRAWS = 1000
WAVLM_SV = "microsoft/wavlm-base-plus-sv"
SPEAKER_MODELS = ("auto", "wavlm", "resemblyzer")
MIN_EMBED_SECONDS = 0.1


@functools.cache
def _english_normaliser() -> Any:
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def normalise(text: str, language: str = "en") -> str:
    """Whisper's English normaliser for "en", its basic one (lower case, no punctuation) otherwise;
    then adjacent numbers joined (`join_numbers`), whitespace collapsed."""
    if language == "en":
        return join_numbers(_english_normaliser()(text))
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer

    return join_numbers(BasicTextNormalizer()(text))


_DIGIT_GAP = re.compile(r"(?<=\d)[:.](?=\d)")


def join_numbers(text: str) -> str:
    """Digit groups that follow each other become one ("12 30" → "1230", "4 5 6" → "456"); ":" or "."
    between digits too. Applied to both sides, so a spoken number is one word however it is written,
    and a wrong number is still one wrong word."""
    words: list[str] = []
    for word in _DIGIT_GAP.sub(" ", text).split():
        if words and word.isdigit() and words[-1].isdigit():
            words[-1] += word
        else:
            words.append(word)
    return " ".join(words)


def normaliser_name(language: str = "en") -> str:
    if language == "en":
        return "Whisper EnglishTextNormalizer (no spelling map), adjacent numbers joined"
    return "Whisper BasicTextNormalizer, adjacent numbers joined"


def error_rates(reference: str, hypothesis: str, language: str = "en") -> tuple[float, float]:
    """(WER, CER) of one transcript against its text, both normalised. Can exceed 1 (insertions)."""
    return corpus_error_rates([reference], [hypothesis], language)


def corpus_error_rates(
    references: Sequence[str], hypotheses: Sequence[str], language: str = "en"
) -> tuple[float, float]:
    """(WER, CER) over many samples: total edits / total reference words (characters)."""
    import jiwer

    refs = [normalise(text, language) for text in references]
    hyps = [normalise(text, language) for text in hypotheses]
    empty = [text for text, ref in zip(references, refs, strict=True) if not ref]
    if empty:
        raise HiggsLoraError(f"text {empty[0]!r} has no words left after normalisation; it cannot be scored.")
    return float(jiwer.wer(refs, hyps)), float(jiwer.cer(refs, hyps))


def silence_share(audio: np.ndarray, sample_rate: int) -> float:
    """Share of 20 ms frames that are silent (see SILENCE_FLOOR_DB); 1.0 for empty audio."""
    frame = max(1, int(SILENCE_FRAME_SECONDS * sample_rate))
    count = len(audio) // frame
    if count == 0:
        return 1.0
    frames = np.asarray(audio[: count * frame], dtype=np.float64).reshape(count, frame)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-10)
    threshold = max(SILENCE_FLOOR_DB, float(level.max()) - SILENCE_RANGE_DB)
    return float((level < threshold).mean())


def speaking_rate(texts: Sequence[str], seconds: Sequence[float]) -> float:
    """Characters of normalised text per second of audio over the training clips."""
    chars = sum(len(normalise(text)) for text in texts)
    total = float(sum(seconds))
    if chars == 0 or total <= 0:
        raise HiggsLoraError("no training clips with text and audio to estimate the speaking rate from.")
    return chars / total


def expected_seconds(text: str, chars_per_second: float) -> float:
    """How long `text` takes at the training clips' speaking rate."""
    return len(normalise(text)) / chars_per_second


def give_up_seconds(expected: float, max_seconds: float) -> float:
    """How long a sentence may run before it counts as never stopped: twice its expected length plus
    a second (a longer sample is off anyway), at most `max_seconds`. Speech that cannot stop then costs
    a few seconds per sentence instead of the whole limit."""
    return min(max_seconds, DURATION_OK[1] * expected + GIVE_UP_MARGIN_SECONDS)


def bootstrap(
    numerators: Sequence[float],
    denominators: Sequence[float],
    others: tuple[Sequence[float], Sequence[float]] | None = None,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """95 % bootstrap interval over sentences of sum(numerators) / sum(denominators) (a corpus error
    rate: edits over reference words; a mean: values over ones). With `others`, the interval of the
    difference from another system's figure on the same sentences (paired: one draw picks the same
    sentences for both), which says whether two systems differ beyond the sentences' own noise."""
    num, den = np.asarray(numerators, dtype=np.float64), np.asarray(denominators, dtype=np.float64)
    if len(num) == 0:
        return (float("nan"), float("nan"))
    picks = np.random.default_rng(seed).integers(0, len(num), size=(draws, len(num)))
    values = num[picks].sum(axis=1) / np.maximum(den[picks].sum(axis=1), 1e-12)
    if others is not None:
        o_num, o_den = (np.asarray(x, dtype=np.float64) for x in others)
        values = values - o_num[picks].sum(axis=1) / np.maximum(o_den[picks].sum(axis=1), 1e-12)
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


def mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.median(kept)) if kept else None


class SpeakerEncoder(Protocol):
    name: str

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """A unit-length speaker embedding, or None when there is too little audio to embed."""
        ...


class ResemblyzerEncoder:
    """Resemblyzer's GE2E speaker encoder (256-d); its pretrained weights ship inside the package."""

    name = "resemblyzer"
    note = ""

    def __init__(self, device: str = "cpu") -> None:
        from resemblyzer import VoiceEncoder

        self.encoder = VoiceEncoder(device, verbose=False)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
        import librosa
        from resemblyzer import preprocess_wav, sampling_rate

        # preprocess_wav resamples to 16 kHz, normalises loudness and cuts long pauses (WebRTC VAD);
        # when the VAD keeps too little (noise, a blip) the resampled audio is embedded uncut.
        raw = np.asarray(audio, dtype=np.float32)
        if len(raw) < MIN_EMBED_SECONDS * sample_rate or not np.any(raw) or not np.isfinite(raw).all():
            return None
        wav = preprocess_wav(raw, sample_rate)
        if len(wav) < MIN_EMBED_SECONDS * sampling_rate:
            wav = librosa.resample(raw, orig_sr=sample_rate, target_sr=sampling_rate)
        if len(wav) < MIN_EMBED_SECONDS * sampling_rate or not np.any(wav):
            return None
        return _unit(self.encoder.embed_utterance(wav))


class WavLMEncoder:
    """WavLM x-vectors (`microsoft/wavlm-base-plus-sv` or a local folder of the same kind)."""

    name = "wavlm"
    note = ""

    def __init__(self, model: str = WAVLM_SV, device: str = "cpu", local_only: bool = False) -> None:
        from transformers import AutoFeatureExtractor, WavLMForXVector

        try:
            self.features = AutoFeatureExtractor.from_pretrained(model, local_files_only=local_only)
            self.model = WavLMForXVector.from_pretrained(model, local_files_only=local_only).to(device).eval()
        except OSError as err:
            raise HiggsLoraError(
                f"--speaker-model wavlm: cannot load {model!r} ({err}). It is a download; without one use "
                "the default resemblyzer, whose weights ship with the package."
            ) from None
        self.device = device

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
        import librosa
        import torch

        rate = self.features.sampling_rate
        wav = librosa.resample(np.asarray(audio, dtype=np.float32), orig_sr=sample_rate, target_sr=rate)
        if len(wav) < MIN_EMBED_SECONDS * rate or not np.any(wav):
            return None
        inputs = self.features(wav, sampling_rate=rate, return_tensors="pt").to(self.device)
        with torch.no_grad():
            vector = self.model(**inputs).embeddings[0]
        return _unit(vector.float().cpu().numpy())


def speaker_encoder(name: str = "auto", device: str = "cpu") -> SpeakerEncoder:
    """`auto` (default): WavLM when WAVLM_SV is in the local hub cache, else resemblyzer with a `note`
    saying how to get WavLM (auto never downloads, so an offline eval never waits on the network);
    `wavlm` (WAVLM_SV, downloaded if need be, or `wavlm:PATH` for a local copy); `resemblyzer`."""
    if name == "auto":
        try:
            return WavLMEncoder(WAVLM_SV, device, local_only=True)
        except HiggsLoraError:
            fallback = ResemblyzerEncoder(device)
            fallback.note = (
                f"{WAVLM_SV} is not downloaded, so the weaker resemblyzer scored; for WavLM: "
                f"`huggingface-cli download {WAVLM_SV}` (or --speaker-model wavlm)"
            )
            return fallback
    if name == "resemblyzer":
        return ResemblyzerEncoder(device)
    if name == "wavlm" or name.startswith("wavlm:"):
        return WavLMEncoder(name.partition(":")[2] or WAVLM_SV, device)
    raise HiggsLoraError(
        f"--speaker-model {name!r}: choose auto (WavLM if downloaded, else resemblyzer), wavlm or resemblyzer."
    )


def voice_centroid(encoder: SpeakerEncoder, clips: Sequence[Path]) -> np.ndarray:
    """Unit-length mean embedding of the clips (the training voice)."""
    from higgs_lora.core.audio import AudioProblem, load_audio

    embeddings = []
    for clip in clips:
        try:
            audio = load_audio(Path(clip), 16000)
        except AudioProblem:
            continue  # a clip training skipped too; the others carry the voice
        vector = encoder.embed(audio, 16000)
        if vector is not None:
            embeddings.append(vector)
    if not embeddings:
        raise HiggsLoraError(
            f"none of the {len(clips)} training clips could be embedded to measure speaker similarity."
        )
    return _unit(np.mean(embeddings, axis=0))


def similarity(embedding: np.ndarray | None, centroid: np.ndarray) -> float | None:
    """Cosine similarity of a unit embedding with the voice centroid (None when not embeddable)."""
    return None if embedding is None else float(np.dot(embedding, centroid))


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
