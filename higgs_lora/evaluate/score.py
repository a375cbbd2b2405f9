"""Scoring spoken samples: one `Sample` per sentence and system with every figure, and a system's
aggregates (`SystemFigures`). Used by `higgs-lora eval` and by the `[eval]` table during training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from higgs_lora.evaluate import metrics
from higgs_lora.evaluate.voice import TrainingVoice

BASE = "base"
ADAPTER = "adapter"
TINY_ASR_TOKENS = 24
"""The tiny random Whisper never ends its transcript; bound it (real Whisper models stop on their own)."""


@dataclass
class Sample:
    """One spoken sentence by one system, with every figure."""

    system: str
    index: int
    text: str
    source: str
    """Where the text came from: "builtin", "file", "held-out" (the eval split's transcripts), "recipe"."""
    wav: str
    """Relative to the eval folder."""
    seconds: float
    stopped: bool
    expected_seconds: float
    duration_ratio: float
    silence_share: float
    transcript: str = ""
    wer: float = float("nan")
    cer: float = float("nan")
    similarity: float | None = None


@dataclass
class SystemFigures:
    """A system's aggregates: corpus WER/CER, mean similarity, stopping."""

    system: str
    step: int | None
    samples: int
    wer: float
    cer: float
    similarity: float | None
    never_stopped: int
    duration_ratio: float | None
    """Median of generated / expected seconds."""
    duration_off: int
    """Samples whose duration ratio lies outside metrics.DURATION_OK."""
    silence_share: float | None

    def headline(self) -> str:
        sim = f"{self.similarity:.2f}" if self.similarity is not None else "n/a"
        return f"WER {self.wer:.1%}, similarity {sim}, {self.never_stopped}/{self.samples} never stopped"


class Scorer:
    """Transcribes and embeds spoken samples and fills in their figures; models load on first use."""

    def __init__(
        self,
        voice: TrainingVoice,
        asr: str | None = None,
        speaker_model: str = "resemblyzer",
        language: str = "en",
        device: str = "cpu",
    ) -> None:
        self.voice = voice
        self.asr = asr
        self.speaker_model = speaker_model
        self.language = language
        self.device = device
        self._transcriber: Any = None
        self._encoder: Any = None
        self._centroid: np.ndarray | None = None

    @property
    def asr_name(self) -> str:
        from higgs_lora.asr import default_asr_model

        return self.asr or default_asr_model(self.device)

    def score(self, samples: list[Sample], audio: list[np.ndarray], sample_rate: int, progress: bool) -> None:
        """Fill transcript, WER/CER and similarity of each sample in place."""
        from higgs_lora.asr import TINY, Transcriber

        if self._transcriber is None:
            tokens = TINY_ASR_TOKENS if self.asr == TINY else None
            self._transcriber = Transcriber(
                self.asr, self.device, language=self.language, max_new_tokens=tokens
            )
        if self._encoder is None:
            self._encoder = metrics.speaker_encoder(self.speaker_model, self.device)
            self._centroid = metrics.voice_centroid(self._encoder, self.voice.clips)
        audible = [i for i, wave in enumerate(audio) if len(wave) >= metrics.MIN_EMBED_SECONDS * sample_rate]
        batch = self._transcriber.batch_size
        texts: dict[int, str] = {}
        for start in tqdm(
            range(0, len(audible), batch), desc="transcribe", unit="batch", disable=not progress
        ):
            chunk = audible[start : start + batch]
            for i, transcript in zip(
                chunk, self._transcriber.transcribe([audio[i] for i in chunk], sample_rate), strict=True
            ):
                texts[i] = transcript.text
        for i, sample in enumerate(
            tqdm(samples, desc="speaker similarity", unit="clip", disable=not progress)
        ):
            sample.transcript = texts.get(i, "")  # too short to transcribe: every word missed
            sample.wer, sample.cer = metrics.error_rates(sample.text, sample.transcript, self.language)
            embedding = self._encoder.embed(audio[i], sample_rate)
            assert self._centroid is not None
            sample.similarity = metrics.similarity(embedding, self._centroid)


def speak_sample(
    speaker: Any,
    system: str,
    index: int,
    text: str,
    source: str,
    voice: TrainingVoice,
    seed: int,
    temperature: float,
    max_seconds: float,
) -> tuple[Sample, Any]:
    """Speak one sentence (seeded by `seed + index`) and measure what needs no model: (sample, speech)."""
    speech = speaker(
        text,
        voice.ref_audio,
        voice.ref_text,
        seed=seed + index,
        temperature=temperature,
        max_seconds=max_seconds,
    )
    expected = metrics.expected_seconds(text, voice.chars_per_second)
    sample = Sample(
        system=system,
        index=index,
        text=text,
        source=source,
        wav=f"wavs/{system}/{index:02d}.wav",
        seconds=round(speech.seconds, 3),
        stopped=speech.stopped,
        expected_seconds=round(expected, 3),
        duration_ratio=round(speech.seconds / expected, 3),
        silence_share=round(metrics.silence_share(speech.audio, speech.sample_rate), 4),
    )
    return sample, speech


def aggregate(system: str, samples: list[Sample], step: int | None, language: str = "en") -> SystemFigures:
    """One system's figures over its samples (corpus error rates; mean similarity; stopping counts)."""
    wer, cer = metrics.corpus_error_rates(
        [s.text for s in samples], [s.transcript for s in samples], language
    )
    low, high = metrics.DURATION_OK
    return SystemFigures(
        system=system,
        step=step,
        samples=len(samples),
        wer=round(wer, 4),
        cer=round(cer, 4),
        similarity=_round(metrics.mean([s.similarity for s in samples])),
        never_stopped=sum(not s.stopped for s in samples),
        duration_ratio=_round(metrics.median([s.duration_ratio for s in samples])),
        duration_off=sum(not low <= s.duration_ratio <= high for s in samples),
        silence_share=_round(metrics.mean([s.silence_share for s in samples])),
    )


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
