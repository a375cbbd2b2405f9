"""Loudness, clipping, SNR and subtitles on synthetic signals and files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from higgs_lora.core.errors import DataError
from higgs_lora.dataset.clean import (
    Thresholds,
    clipped_fraction,
    fingerprint,
    loudness,
    measure,
    normalize,
    problems,
    snr_db,
)
from higgs_lora.dataset.subtitles import find_transcript, read_cues

RATE = 24000


def tone(seconds: float = 3.0, amplitude: float = 0.1, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def bursts(amplitude: float) -> np.ndarray:
    """Speech-like on/off: 0.6 s of tone, 0.4 s of silence, three times."""
    return tone(amplitude=amplitude) * (np.arange(3 * RATE) % RATE < RATE * 0.6)


def test_loudness_follows_bs1770_and_normalisation_hits_the_target() -> None:
    # BS.1770: a 1 kHz sine at 0 dBFS peak reads about -3 LUFS (K-weighting is ~+0.7 dB at 1 kHz)
    assert loudness(tone(amplitude=1.0), RATE) == pytest.approx(-3.0, abs=0.8)
    # 20 dB quieter reads 20 LU lower
    assert loudness(tone(amplitude=0.1), RATE) - loudness(tone(amplitude=1.0), RATE) == pytest.approx(
        -20, abs=0.1
    )
    out, gain = normalize(tone(amplitude=0.01), RATE, Thresholds(target_lufs=-23.0))
    assert loudness(out, RATE) == pytest.approx(-23.0, abs=0.1) and gain > 0


def test_normalisation_never_pushes_peaks_past_the_ceiling() -> None:
    spiky = tone(amplitude=0.01)
    spiky[1000] = 0.5  # one loud click: reaching -10 LUFS would put it far above full scale
    out, _ = normalize(spiky, RATE, Thresholds(target_lufs=-10.0, peak_dbfs=-1.0))
    assert np.abs(out).max() == pytest.approx(10 ** (-1 / 20), rel=1e-4)


def test_clipping_counts_flat_tops_not_single_peaks() -> None:
    clean = tone(amplitude=1.0)  # touches 1.0 at single samples only
    assert clipped_fraction(clean) == 0.0
    clipped = np.clip(bursts(2.0), -1.0, 1.0)
    assert clipped_fraction(clipped) > 0.2
    quality = measure(clipped, RATE, speech_ratio=1.0)
    assert [reason for reason, _ in problems(quality, Thresholds())] == ["clipped"]


def test_snr_estimate_separates_clean_and_noisy_speech_like_signals() -> None:
    rng = np.random.default_rng(0)
    speech = bursts(0.3)
    assert snr_db(speech + rng.normal(0, 0.001, speech.size).astype(np.float32), RATE) > 35
    noisy = speech + rng.normal(0, 0.1, speech.size).astype(np.float32)
    assert snr_db(noisy, RATE) < 15
    reasons = [r for r, _ in problems(measure(noisy, RATE, 1.0), Thresholds())]
    assert reasons == ["noisy"]


def test_quiet_and_non_speech_are_reported_with_their_numbers() -> None:
    quiet = bursts(0.0005)
    found = problems(measure(quiet, RATE, speech_ratio=0.2), Thresholds())
    assert [r for r, _ in found] == ["too_quiet", "non_speech"]
    assert "LUFS < -50" in found[0][1] and "speech in 20% of the clip < 35%" in found[1][1]


def test_fingerprint_ignores_gain_and_tells_recordings_apart() -> None:
    rng = np.random.default_rng(1)
    a = (rng.normal(0, 0.1, 2 * RATE) * np.repeat(rng.uniform(0, 1, 40), RATE // 20)).astype(np.float32)
    b = (rng.normal(0, 0.1, 2 * RATE) * np.repeat(rng.uniform(0, 1, 40), RATE // 20)).astype(np.float32)
    assert fingerprint(a, RATE) == fingerprint(a * 0.3, RATE)
    assert fingerprint(a, RATE) != fingerprint(b, RATE)


def test_srt_and_vtt_cues(tmp_path: Path) -> None:
    srt = tmp_path / "talk.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i> there.\n\n2\n00:01:02,250 --> 00:01:04,000\nSecond\nline.\n",
        encoding="utf-8",
    )
    cues = read_cues(srt)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 2.5, "Hello there."),
        (62.25, 64.0, "Second line."),
    ]
    vtt = tmp_path / "memo.vtt"
    vtt.write_text("WEBVTT\n\n00:05.000 --> 00:07.100 align:start\n<v Ann>Hi.\n", encoding="utf-8")
    assert [(c.start, c.end, c.text) for c in read_cues(vtt)] == [(5.0, 7.1, "Hi.")]
    (tmp_path / "talk.wav").touch()
    (tmp_path / "talk.txt").write_text("ignored: the srt has timings", encoding="utf-8")
    assert find_transcript(tmp_path / "talk.wav").cues == tuple(cues)
    (tmp_path / "note.wav").touch()
    (tmp_path / "note.txt").write_text(" One  line\n of text. ", encoding="utf-8")
    assert find_transcript(tmp_path / "note.wav").text == "One line of text."


def test_bad_timing_line_names_file_and_line(tmp_path: Path) -> None:
    srt = tmp_path / "bad.srt"
    srt.write_text("1\n00:00:01,000 --> soon\nHello\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.srt line 2: cannot read the timing '00:00:01,000 --> soon'"):
        read_cues(srt)


def test_inputs_leave_out_hidden_folders_and_the_output(tmp_path: Path) -> None:
    from higgs_lora.dataset.build import expand_inputs

    for name in ["b.wav", "a.flac", "notes.txt", ".cache/x.wav", "data/voice/wavs/voice_0001.wav"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    files, missing = expand_inputs([tmp_path, tmp_path / "gone.wav"], exclude=tmp_path / "data" / "voice")
    assert [f.name for f in files] == ["a.flac", "b.wav"]
    assert [(Path(m.source).name, m.reason) for m in missing] == [("gone.wav", "bad_input")]


def test_build_with_no_audio_inputs_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    from higgs_lora.dataset import build_dataset

    (tmp_path / "notes.txt").write_text("no audio here", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"no audio files .*/typo\.wav: no such file or folder\. Nothing was written"
    ):
        build_dataset([tmp_path, tmp_path / "typo.wav"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
