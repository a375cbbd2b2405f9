"""Reading audio for the tokenizer: any format soundfile reads, downmixed to mono, resampled."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class AudioProblem(Exception):
    """A clip that cannot be used; `reason` is the short code counted in the prepare summary."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def audio_seconds(path: Path) -> float:
    """Duration from the file header, without decoding the samples."""
    import soundfile

    _check_file(path)
    _check_wav_complete(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioProblem("unreadable_audio", f"cannot read audio ({err})") from None
    if info.samplerate <= 0 or info.frames <= 0:
        raise AudioProblem("empty_audio", "audio file holds no samples")
    return info.frames / info.samplerate


def load_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples at `sample_rate`; non-finite or silent audio is refused."""
    import librosa
    import soundfile

    _check_file(path)
    try:
        samples, source_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioProblem("unreadable_audio", f"cannot read audio ({err})") from None
    mono = samples.mean(axis=1)
    if mono.size == 0:
        raise AudioProblem("empty_audio", "audio file holds no samples")
    if not np.isfinite(mono).all():
        raise AudioProblem("non_finite_audio", "audio holds NaN or infinite samples")
    if float(np.abs(mono).max()) < 1e-4:
        raise AudioProblem("silent_audio", "audio is silent (peak below -80 dBFS)")
    if source_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=source_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioProblem("missing_file", f"audio file {path} not found")
    if not path.is_file():
        raise AudioProblem("not_a_file", f"{path} is not a regular file")


def _check_wav_complete(path: Path) -> None:
    """Refuse a WAV whose data chunk is cut short: libsndfile would quietly read the part that is
    there, and the transcript would then describe audio that is missing."""
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a plain RIFF/WAVE file: soundfile decides
        size = path.stat().st_size
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return
            chunk_id, chunk_size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if chunk_id == b"data":
                missing = handle.tell() + chunk_size - size
                if chunk_size != 0xFFFFFFFF and missing > 0:
                    raise AudioProblem(
                        "truncated_audio", f"WAV file is cut short ({missing} bytes of audio missing)"
                    )
                return
            handle.seek(chunk_size + (chunk_size & 1), 1)
