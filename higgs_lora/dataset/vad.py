"""Voice activity detection with silero-vad (its weights ship inside the pip package: no download).

The model is stateful and reads 32 ms windows one after the other, which would make an hour of audio
take ~30 s on one core. We cut the file into `rows` contiguous stretches and run them as one batch
(one state per row); each row first reads `WARMUP_WINDOWS` windows of the stretch before it, whose
outputs are thrown away, so every row starts with a warmed-up state. Segments are then made from the
probabilities by silero's own `get_speech_timestamps_from_probs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VAD_RATE = 16000
WINDOW = 512
"""Samples per probability at 16 kHz (32 ms), fixed by the model."""
WINDOW_SECONDS = WINDOW / VAD_RATE
WARMUP_WINDOWS = 32  # ~1 s of context before each batch row


@dataclass(frozen=True)
class Speech:
    """Where a recording holds speech: segments in seconds and the per-window probabilities."""

    segments: list[tuple[float, float]]
    probabilities: np.ndarray
    seconds: float

    def ratio(self, start: float, end: float, threshold: float = 0.5) -> float:
        """Share of the 32 ms windows in [start, end) that the model calls speech."""
        window = self.probabilities[int(start / WINDOW_SECONDS) : max(int(end / WINDOW_SECONDS), 1)]
        return float((window >= threshold).mean()) if window.size else 0.0

    def pause_depth(self, start: float, end: float) -> float:
        """How much of a pause [start, end] is: one minus the lowest speech probability in it (the
        window around a zero-width gap between two words counts), so a comma beats a word boundary."""
        first = int(start / WINDOW_SECONDS)
        window = self.probabilities[max(first - 1, 0) : max(int(end / WINDOW_SECONDS), first) + 2]
        return 1.0 - float(window.min()) if window.size else 0.0


_MODEL = None


def _model():  # -> silero's JIT model
    global _MODEL
    if _MODEL is None:
        import torch

        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad

        torch.set_num_threads(threads)  # silero_vad.model sets 1 thread for the whole process on import
        _MODEL = load_silero_vad()
    return _MODEL


def speech_probabilities(audio: np.ndarray, rows: int = 32, progress: bool = False) -> np.ndarray:
    """Speech probability of every 32 ms window of `audio` (mono float32 at 16 kHz)."""
    import torch
    from tqdm.auto import tqdm

    windows = len(audio) // WINDOW + (1 if len(audio) % WINDOW else 0)
    if windows == 0:
        return np.zeros(0, dtype=np.float32)
    padded = np.zeros(windows * WINDOW, dtype=np.float32)
    padded[: len(audio)] = audio
    frames = torch.from_numpy(padded).reshape(windows, WINDOW)
    rows = max(1, min(rows, windows // (4 * WARMUP_WINDOWS) or 1))
    per_row = -(-windows // rows)
    warmup = WARMUP_WINDOWS if rows > 1 else 0
    # Row r reads windows [r*per_row - warmup, (r+1)*per_row); row 0 has zeros as its warm-up.
    batch = torch.zeros(rows, per_row + warmup, WINDOW)
    for r in range(rows):
        start = r * per_row
        stretch = frames[max(start - warmup, 0) : start + per_row]
        offset = warmup - (start - max(start - warmup, 0))
        batch[r, offset : offset + len(stretch)] = stretch
    model = _model()
    model.reset_states()
    out = torch.empty(rows, per_row + warmup)
    threads = torch.get_num_threads()
    # One thread: the model's ops are tiny, and with more the threads' handovers cost more than
    # the maths (measured: 10x slower on a busy 2-core machine). Restored afterwards.
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            steps = range(per_row + warmup)
            show = progress and len(audio) > 600 * VAD_RATE  # recordings over 10 minutes
            for step in tqdm(steps, desc="find speech", unit="step", leave=False, disable=not show):
                out[:, step] = model(batch[:, step], VAD_RATE)[:, 0]
    finally:
        torch.set_num_threads(threads)
    return out[:, warmup:].reshape(-1)[:windows].numpy().astype(np.float32)


def detect_speech(audio: np.ndarray, progress: bool = False) -> Speech:
    """Speech segments of `audio` (mono float32 at 16 kHz). Gaps between segments are pauses of at
    least `MIN_SILENCE_SECONDS`: the only places `cut` may cut."""
    probabilities = speech_probabilities(audio, progress=progress)
    return Speech(
        segments_from_probabilities(probabilities, len(audio)), probabilities, len(audio) / VAD_RATE
    )


THRESHOLD = 0.5
MIN_SILENCE_SECONDS = 0.1
MIN_SPEECH_SECONDS = 0.1
PAD_SECONDS = 0.03


def segments_from_probabilities(probabilities: np.ndarray, samples: int) -> list[tuple[float, float]]:
    """Speech segments in seconds, by silero's own hysteresis (speech above 0.5, silence below 0.35)."""
    from silero_vad import get_speech_timestamps_from_probs

    stamps = get_speech_timestamps_from_probs(
        probabilities.tolist(),
        sampling_rate=VAD_RATE,
        threshold=THRESHOLD,
        min_speech_duration_ms=int(MIN_SPEECH_SECONDS * 1000),
        min_silence_duration_ms=int(MIN_SILENCE_SECONDS * 1000),
        speech_pad_ms=int(PAD_SECONDS * 1000),
        audio_length_samples=samples,
    )
    return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]
