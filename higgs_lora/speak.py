"""`speak`: text → speech with an adapter or a merged model, through the backend's generation path.

What is the same for every backend lives here: loading for speech (merged in memory, or 4-bit with the
adapter unmerged), the reference clip's codes, `Speech`. Each backend's `Speaker` drives its own
generation (`backends/*/speaker.py`); `make_speaker` picks it for a loaded model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from higgs_lora.errors import HiggsLoraError, OutputExistsError

DEFAULT_SYSTEM_PROMPT = "Generate audio following instruction."
DEFAULT_AUDIO_TOKENIZER = "bosonai/higgs-audio-v2-tokenizer"


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

        from higgs_lora.fileio import atomic_path

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

        from higgs_lora.data.audio import AudioProblem, load_audio

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


def speak(
    text: str,
    *,
    adapter: str | Path | None = None,
    model: str | Path | None = None,
    ref_audio: str | Path | None = None,
    ref_text: str | None = None,
    out: str | Path | None = None,
    seed: int | None = None,
    temperature: float = 0.7,
    max_seconds: float = 30.0,
    audio_tokenizer: str | None = None,
    quantization: str = "auto",
    compute_dtype: str = "auto",
    system_prompt: str | None = None,
    force: bool = False,
    trust_pickle: bool = False,
) -> Speech:
    """Speak `text` with an adapter (`adapters/NAME`) or a merged model folder; write `out` if given.

    `quantization`: "none" merges the adapter into full-precision weights in memory; "nf4" keeps the
    4-bit base the adapter was trained against, with the adapter applied unmerged (fits a 12 GB card);
    "auto" takes "none" when its predicted peak fits the GPU's free memory (always on CPU), else "nf4".
    The system prompt defaults to the one the adapter was trained with.
    """
    check_text(text)
    if (adapter is None) == (model is None):
        raise HiggsLoraError("give exactly one of --adapter adapters/NAME or --model DIR")
    if out is not None and Path(out).exists() and not force:
        raise OutputExistsError(f"{out} exists. Pass --force to replace it, or choose another --out.")
    loaded = load_for_speech(adapter, model, quantization, compute_dtype, trust_pickle)
    if audio_tokenizer is not None:
        loaded.config = loaded.config.model_copy(update={"audio_tokenizer": audio_tokenizer})
    from higgs_lora.model.load import load_audio_tokenizer, load_text_tokenizer

    speaker = make_speaker(
        loaded.model,
        load_text_tokenizer(loaded.config),
        load_audio_tokenizer(loaded.config, loaded.model.device),
        system_prompt=system_prompt or loaded.system_prompt,
        # bitsandbytes' 4-bit kernels are not captured into CUDA graphs: graphs only for full precision.
        capture_cuda_graphs=loaded.config.quantization == "none",
    )
    speech = speaker(text, ref_audio, ref_text, seed=seed, temperature=temperature, max_seconds=max_seconds)
    if out is not None:
        speech.save(out, force=force)
    return speech


def check_text(text: str) -> None:
    if not text or not text.strip():
        raise HiggsLoraError('--text is empty: give the words to speak, e.g. --text "Hello there."')


@dataclass
class SpeechModel:
    """A model ready to generate, with what it was loaded as and the prompt it was trained with."""

    model: Any
    config: Any  # ModelConfig: base, revisions, audio tokenizer, quantization, compute dtype
    system_prompt: str


def load_for_speech(
    adapter: str | Path | None,
    model: str | Path | None,
    quantization: str = "auto",
    compute_dtype: str = "auto",
    trust_pickle: bool = False,
) -> SpeechModel:
    """An adapter (merged in memory, or applied unmerged on the 4-bit base) or a merged model folder."""
    from higgs_lora.adapter import load_adapter, recipe_value, trained_model_config
    from higgs_lora.backends import decided
    from higgs_lora.model.load import load_base_model, pick_runtime
    from higgs_lora.recipe import ModelConfig

    if quantization not in ("auto", "nf4", "none"):
        raise HiggsLoraError(f"--quantization {quantization!r}: choose auto, nf4 or none.")
    if adapter is not None:
        config = trained_model_config(adapter, compute_dtype=compute_dtype)
        prompt = recipe_value(adapter, "data", "system_prompt", DEFAULT_SYSTEM_PROMPT)
    else:
        folder = Path(model)  # type: ignore[arg-type]
        if not (folder / "config.json").is_file():
            raise HiggsLoraError(f"--model {folder}: no config.json there; give a merged model folder.")
        record = _merge_record(folder)
        # The folder's config.json says which backend reads it: decided once, not at every load below.
        config = decided(
            ModelConfig(
                base=str(folder),
                audio_tokenizer=record.get("audio_tokenizer", DEFAULT_AUDIO_TOKENIZER),
                audio_tokenizer_revision=record.get("audio_tokenizer_revision"),
                compute_dtype=compute_dtype,
            )
        )
        prompt = record.get("system_prompt", DEFAULT_SYSTEM_PROMPT)
    runtime = pick_runtime(config)
    if quantization == "auto":
        quantization = choose_speech_quantization(config, runtime)
    config = config.model_copy(update={"quantization": quantization})
    if adapter is None:
        return SpeechModel(load_base_model(config, runtime).eval(), config, prompt)
    peft_model = load_adapter(
        adapter, quantization=quantization, dtype=runtime.compute_dtype, trust_pickle=trust_pickle
    )
    if quantization == "none":  # full precision: fold the adapter in, generation needs no PEFT wrapper
        return SpeechModel(peft_model.merge_and_unload().eval(), config, prompt)
    # 4-bit: the adapter stays applied, unmerged, on the weights it was trained against.
    return SpeechModel(peft_model.get_base_model().eval(), config, prompt)


def choose_speech_quantization(config: Any, runtime: Any) -> str:
    """ "none" where full-precision generation fits (always on CPU), else "nf4" (from `plan`'s estimate)."""
    if not runtime.cuda:
        return "none"
    import torch

    from higgs_lora.plan_inference import speech_plan

    free, _ = torch.cuda.mem_get_info(runtime.device)
    needed = speech_plan(config, "none").total
    if needed <= free:
        return "none"
    print(
        f"speak: full-precision generation needs ~{needed / 2**30:.1f} GiB, the GPU has "
        f"{free / 2**30:.1f} GiB free: using the 4-bit base with the adapter unmerged (--quantization nf4)."
    )
    return "nf4"


def _merge_record(folder: Path) -> dict[str, Any]:
    file = folder / "higgs_lora_merge.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
