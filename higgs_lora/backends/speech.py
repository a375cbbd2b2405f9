"""What speaking produces and needs, whatever the backend: `Speech`, a reference clip's codes, the input
checks, and `make_speaker`, which picks a loaded model's backend's Speaker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.schema import DEFAULT_SYSTEM_PROMPT


@dataclass
class Speech:
    audio: np.ndarray
    sample_rate: int
    codes: Any  # LongTensor [num_codebooks, frames]
    stopped: bool = True
    """Whether generation ended with the audio stream's EOS; False when it ran into max_seconds."""

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write a 16-bit PCM WAV atomically; an existing file is replaced only with `force`."""
        import soundfile

        from higgs_lora.core.fileio import atomic_path

        path = Path(path)
        if path.exists() and not force:
            raise OutputExistsError(f"{path} exists. Pass --force to replace it, or choose another --out.")
        with atomic_path(path) as temporary:
            soundfile.write(str(temporary), self.audio, self.sample_rate, subtype="PCM_16", format="WAV")
        return path


class ReferenceCodes:
    """A reference clip's codes, encoded once per file: eval and listen prompt every sentence with the
    same reference, and encoding it cost more than generating a short sentence (2.6 s vs 0.5 s, tiny
    model, CPU). Shared by every backend's Speaker."""

    def __init__(self, audio_tokenizer: Any) -> None:
        self.audio_tokenizer = audio_tokenizer
        self._codes: dict[tuple[str, int], Any] = {}

    def __call__(self, ref_audio: str | Path) -> Any:
        """LongTensor [codebooks, frames] on the CPU."""
        import torch

        from higgs_lora.core.audio import AudioProblem, load_audio

        path = Path(ref_audio)
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
        if key not in self._codes:
            rate = self.audio_tokenizer.sampling_rate
            try:
                samples = load_audio(path, rate)
            except AudioProblem as problem:
                raise HiggsLoraError(f"--ref {ref_audio}: {problem.detail}") from None
            with torch.inference_mode():
                self._codes[key] = self.audio_tokenizer.encode(samples, rate).cpu()
        return self._codes[key]


def check_reference(ref_audio: Any, ref_text: Any) -> None:
    if (ref_audio is None) != (ref_text is None):
        raise HiggsLoraError("a reference needs both the audio (--ref) and its transcript (--ref-text)")


def make_speaker(
    model: Any,
    text_tokenizer: Any,
    audio_tokenizer: Any,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    kv_cache_lengths: tuple[int, ...] = (1024, 4096),
    capture_cuda_graphs: bool = False,
) -> Any:
    """The Speaker of `model`'s backend; call it with text (and a reference) to get a `Speech`."""
    from higgs_lora.backends import backend_of

    return backend_of(model).speaker(
        model, text_tokenizer, audio_tokenizer, system_prompt, kv_cache_lengths, capture_cuda_graphs
    )


class TrainingSpeaker:
    """The one Speaker everything that speaks during training shares (`[samples]`, `[eval]`): one set of
    static KV caches, built on first use around the live model (LoRA layers injected, nothing merged)."""

    def __init__(self, text_tokenizer: Any, audio_tokenizer: Any, system_prompt: str) -> None:
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.system_prompt = system_prompt
        self._speaker: Any = None

    def __call__(self, model: Any) -> Any:
        if self._speaker is None:
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            self._speaker = make_speaker(base, self.text_tokenizer, self.audio_tokenizer, self.system_prompt)
        return self._speaker


def check_text(text: str) -> None:
    if not text or not text.strip():
        raise HiggsLoraError('--text is empty: give the words to speak, e.g. --text "Hello there."')
