"""How fast `dataset build` finds and cuts speech, and how fast Whisper runs, on this machine.

    python benchmarks/dataset_speed.py [--minutes 10] [--asr]

VAD + cutting: a long recording made from the shipped smoke clips with random pauses (the tests'
`long_recording`), resampled to 16 kHz once, then silero VAD and the cut planner, 3 rounds; prints
the median as a multiple of real time. Reading + resampling is timed separately.

--asr: Whisper's cost per 30 s window for the default CPU and GPU architectures (whisper-small,
whisper-large-v3-turbo), built from their configs with random weights (no download, so this runs
offline): the encoder plus 100 greedy decoder steps (about what 30 s of speech needs), fp32, on CPU.
Weights do not change the time of a fixed number of steps; the word-timestamp alignment is not included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import librosa
import soundfile
import torch

from higgs_lora.dataset.cut import Limits, plan_cuts
from higgs_lora.dataset.vad import VAD_RATE, detect_speech
from tests.recordings import long_recording

ARCHITECTURES = {
    # transformers WhisperConfig fields of the published checkpoints
    "openai/whisper-small": dict(
        d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
        decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, num_mel_bins=80, vocab_size=51865,
    ),
    "openai/whisper-large-v3-turbo": dict(
        d_model=1280, encoder_layers=32, decoder_layers=4, encoder_attention_heads=20,
        decoder_attention_heads=20, encoder_ffn_dim=5120, decoder_ffn_dim=5120, num_mel_bins=128, vocab_size=51866,
    ),
}  # fmt: skip


def vad_speed(minutes: float, rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repeats = max(1, round(minutes * 60 / 22))  # one pass over the 12 smoke clips is ~22 s
        recording = long_recording(Path(folder) / "long.wav", repeats=repeats, seed=0)
        start = time.perf_counter()
        audio, rate = soundfile.read(str(recording.path), dtype="float32")
        audio16 = librosa.resample(audio, orig_sr=rate, target_sr=VAD_RATE, res_type="soxr_hq")
        read_seconds = time.perf_counter() - start
    seconds = recording.seconds
    detect_speech(audio16[: 10 * VAD_RATE])  # load the model outside the timing
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        speech = detect_speech(audio16)
        cuts, _ = plan_cuts(speech.segments, seconds, Limits())
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(
        f"recording: {seconds / 60:.1f} min, {len(cuts)} clips of 1-15 s, torch threads {torch.get_num_threads()}"
    )
    print(f"read + resample to 16 kHz: {read_seconds:.2f} s ({seconds / read_seconds:.0f}x real time)")
    print(
        f"VAD + cut: median {median:.2f} s of {rounds} rounds "
        f"({', '.join(f'{t:.2f}' for t in times)}) = {seconds / median:.0f}x real time"
    )


def asr_speed(tokens: int = 100) -> None:
    from transformers import GenerationMixin, WhisperConfig, WhisperForConditionalGeneration

    for name, fields in ARCHITECTURES.items():
        torch.manual_seed(0)
        config = WhisperConfig(**fields, decoder_start_token_id=50258, pad_token_id=50257, eos_token_id=50257)
        model = WhisperForConditionalGeneration(config).eval()
        features = torch.randn(1, fields["num_mel_bins"], 3000)
        start_ids = torch.tensor([[50258, 50259, 50360, 50364]])
        times = []
        for _ in range(2):
            start = time.perf_counter()
            with torch.inference_mode():
                # The base generate: a fixed number of greedy steps (Whisper's own adds prompt logic).
                GenerationMixin.generate(
                    model, input_features=features, decoder_input_ids=start_ids,
                    max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                )  # fmt: skip
            times.append(time.perf_counter() - start)
        best = min(times)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name} ({params:.0f}M, fp32, CPU): {best:.1f} s per 30 s window = {30 / best:.1f}x real time")
        del model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the generated recording (10)")
    parser.add_argument("--asr", action="store_true", help="also time Whisper architectures on CPU")
    args = parser.parse_args()
    vad_speed(args.minutes)
    if args.asr:
        asr_speed()


if __name__ == "__main__":
    main()
