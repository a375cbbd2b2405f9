"""Scoring spoken samples: one `Sample` per sentence and system with every figure, and a system's
aggregates (`SystemFigures`). Used by `higgs-lora eval` and by the `[eval]` table during training.

A sample that never stopped, said nothing or stopped at once is a failure: it keeps its WER (babble
is insertions, silence is deletions) and scores 0 similarity, so a system cannot look better by
failing. Each aggregate carries its 95 % bootstrap interval over the sentences, and `compare` the
interval of two systems' difference, so a gap smaller than the sentences' own noise reads as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
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
    """Cosine similarity with the voice; None when there was nothing to embed."""
    failure: str | None = None
    """"never stopped", "silent" or "too short" (see `failure`); None for a sample that spoke."""
    prompt: str | None = None
    """A test list's prompt clip this sample cloned and is compared with (None: the training voice)."""


def failure(sample: Sample) -> str | None:
    """Why a sample failed, if it did: it ran to its limit, said nothing (nothing to embed, or more than
    metrics.SILENT_SHARE silent), or lasted under half its expected length."""
    if not sample.stopped:
        return "never stopped"
    if sample.similarity is None or sample.silence_share >= metrics.SILENT_SHARE:
        return "silent"
    if sample.duration_ratio < metrics.DURATION_OK[0]:
        return "too short"
    return None


@dataclass
class SystemFigures:
    """A system's aggregates: corpus WER/CER, mean similarity (failures scoring 0), failures, stopping,
    and the 95 % bootstrap interval of WER and similarity."""

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
    failures: int = 0
    wer_interval: tuple[float, float] | None = None
    similarity_interval: tuple[float, float] | None = None

    def headline(self) -> str:
        sim = f"{self.similarity:.2f}" if self.similarity is not None else "n/a"
        return (
            f"WER {self.wer:.1%}, similarity {sim}, {self.failures}/{self.samples} failed, "
            f"{self.never_stopped}/{self.samples} never stopped"
        )

    def passes(self, max_failures: float, max_wer: float) -> bool:
        """Intelligible and stopping: at most `max_failures` of the samples failed, WER at most `max_wer`."""
        return self.failures <= max_failures * self.samples and self.wer <= max_wer


@dataclass(frozen=True)
class Difference:
    """One system's figures minus another's on the same sentences, with paired 95 % intervals."""

    system: str
    other: str
    wer: float
    wer_interval: tuple[float, float]
    similarity: float
    similarity_interval: tuple[float, float]

    def beyond_noise(self, name: str) -> bool:
        low, high = getattr(self, f"{name}_interval")
        return low > 0 or high < 0


class Scorer:
    """Transcribes and embeds spoken samples and fills in their figures; models load on first use."""

    def __init__(
        self,
        voice: TrainingVoice,
        asr: str | None = None,
        speaker_model: str = "auto",
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
        self._prompts: dict[str, np.ndarray] = {}

    @property
    def speaker_name(self) -> str:
        """The encoder that scored (auto resolved), with why when it fell back; before scoring, the ask."""
        if self._encoder is None:
            return self.speaker_model
        note = getattr(self._encoder, "note", "")
        return f"{self._encoder.name} ({note})" if note else self._encoder.name

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
        if self._centroid is None and any(sample.prompt is None for sample in samples):
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
            target = self._centroid if sample.prompt is None else self._prompt(sample.prompt)
            assert target is not None
            sample.similarity = metrics.similarity(embedding, target)
            sample.failure = failure(sample)

    def _prompt(self, path: str) -> np.ndarray:
        """The embedding of a test list's prompt clip (each prompt embedded once)."""
        if path not in self._prompts:
            self._prompts[path] = metrics.voice_centroid(self._encoder, [Path(path)])
        return self._prompts[path]


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
    prompt: tuple[Path, str] | None = None,
) -> tuple[Sample, Any]:
    """Speak one sentence (seeded by `seed + index`) and measure what needs no model: (sample, speech).
    The sentence is given up at metrics.give_up_seconds (at most `max_seconds`). `prompt`: a test
    list's (clip, its text) to clone instead of the voice's reference, and to be compared with."""
    expected = metrics.expected_seconds(text, voice.chars_per_second)
    ref_audio, ref_text = prompt if prompt is not None else (voice.ref_audio, voice.ref_text)
    speech = speaker(
        text,
        ref_audio,
        ref_text,
        seed=seed + index,
        temperature=temperature,
        max_seconds=metrics.give_up_seconds(expected, max_seconds),
    )
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
        prompt=str(prompt[0]) if prompt is not None else None,
    )
    return sample, speech


def aggregate(system: str, samples: list[Sample], step: int | None, language: str = "en") -> SystemFigures:
    """One system's figures over its samples (corpus error rates; mean similarity with failures at 0;
    failure and stopping counts; bootstrap intervals)."""
    wer, cer = metrics.corpus_error_rates(
        [s.text for s in samples], [s.transcript for s in samples], language
    )
    edits, words, similarities = _per_sentence(samples, language)
    low, high = metrics.DURATION_OK
    scored = any(s.similarity is not None for s in samples)
    return SystemFigures(
        system=system,
        step=step,
        samples=len(samples),
        wer=round(wer, 4),
        cer=round(cer, 4),
        similarity=_round(metrics.mean(similarities)) if scored else None,
        never_stopped=sum(not s.stopped for s in samples),
        duration_ratio=_round(metrics.median([s.duration_ratio for s in samples])),
        duration_off=sum(not low <= s.duration_ratio <= high for s in samples),
        silence_share=_round(metrics.mean([s.silence_share for s in samples])),
        failures=sum(s.failure is not None for s in samples),
        wer_interval=_round_pair(metrics.bootstrap(edits, words)),
        similarity_interval=_round_pair(metrics.bootstrap(similarities, [1.0] * len(samples)))
        if scored
        else None,
    )


def compare(samples: list[Sample], others: list[Sample], language: str = "en") -> Difference:
    """`samples`' system minus `others`' on the same sentences (paired bootstrap)."""
    if [s.text for s in samples] != [s.text for s in others]:
        raise ValueError("compare needs both systems' samples of the same sentences, in the same order")
    a_edits, words, a_sims = _per_sentence(samples, language)
    b_edits, _, b_sims = _per_sentence(others, language)
    ones = [1.0] * len(samples)
    return Difference(
        system=samples[0].system,
        other=others[0].system,
        wer=round((sum(a_edits) - sum(b_edits)) / sum(words), 4),
        wer_interval=_round_pair(metrics.bootstrap(a_edits, words, (b_edits, words))),
        similarity=round((sum(a_sims) - sum(b_sims)) / len(samples), 4),
        similarity_interval=_round_pair(metrics.bootstrap(a_sims, ones, (b_sims, ones))),
    )


def _per_sentence(samples: list[Sample], language: str) -> tuple[list[float], list[float], list[float]]:
    """Word edits, reference words and similarity (0 for a failure) of each sample."""
    words = [float(len(metrics.normalise(s.text, language).split())) for s in samples]
    edits = [s.wer * n for s, n in zip(samples, words, strict=True)]
    similarities = [0.0 if s.failure or s.similarity is None else s.similarity for s in samples]
    return edits, words, similarities


def _round_pair(pair: tuple[float, float]) -> tuple[float, float]:
    return (round(pair[0], 4), round(pair[1], 4))


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
