"""`speak`: text → speech through boson-multimodal's generation path, with an adapter or a merged model.

The path is the one `HiggsAudioServeEngine.generate` (serve/serve_engine.py) takes: ChatML prompt →
`HiggsAudioSampleCollator` → `HiggsAudioModel.generate` with static KV-cache buckets → revert the delay
pattern → audio tokenizer decode. We drive those pieces ourselves because the engine only loads models
by path and captures CUDA graphs in its constructor; an adapter is merged into the weights *before*
any capture here, never after (a captured graph would replay without it).
"""

from __future__ import annotations

import json
from copy import deepcopy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HiggsLoraError, OutputExistsError

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

        from .fileio import atomic_path

        path = Path(path)
        if path.exists() and not force:
            raise OutputExistsError(f"{path} exists. Pass --force to replace it, or choose another --out.")
        with atomic_path(path) as temporary:
            soundfile.write(str(temporary), self.audio, self.sample_rate, subtype="PCM_16", format="WAV")
        return path


class Speaker:
    """Generates speech with a loaded model (LoRA merged or injected), text and audio tokenizers."""

    def __init__(
        self,
        model: Any,
        text_tokenizer: Any,
        audio_tokenizer: Any,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        kv_cache_lengths: tuple[int, ...] = (1024, 4096),
        capture_cuda_graphs: bool = False,
    ) -> None:
        from transformers.cache_utils import StaticCache

        from .data.collate import higgs_collator

        self.model = model
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.system_prompt = system_prompt
        self._reference_codes: dict[tuple[str, int], Any] = {}
        config = model.config
        model.set_audio_special_tokens(text_tokenizer)
        # One extra KV layer per dual-FFN layer, as the serve engine sizes them.
        cache_config = deepcopy(config.text_config)
        cache_config.num_hidden_layers += len(config.audio_dual_ffn_layers or [])
        self.kv_caches = {
            length: StaticCache(
                config=cache_config,
                batch_size=1,
                max_cache_len=length,
                device=model.device,
                dtype=model.dtype,
            )
            for length in sorted(kv_cache_lengths)
        }
        self.collator = higgs_collator(config, for_generation=True)
        if capture_cuda_graphs and model.device.type == "cuda":
            model.capture_model(self.kv_caches.values())  # after any adapter is merged, never before

    def __call__(
        self,
        text: str,
        ref_audio: str | Path | None = None,
        ref_text: str | None = None,
        seed: int | None = None,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_seconds: float = 30.0,
    ) -> Speech:
        import torch
        from boson_multimodal.model.higgs_audio.utils import revert_delay_pattern

        check_text(text)
        if (ref_audio is None) != (ref_text is None):
            raise HiggsLoraError("a reference needs both the audio (--ref) and its transcript (--ref-text)")
        inputs = self._inputs(text, ref_audio, ref_text)
        frames = int(max_seconds * self.audio_tokenizer.tps) + self.model.config.audio_num_codebooks + 1
        for cache in self.kv_caches.values():
            cache.reset()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                outputs = self.model.generate(
                    **inputs,
                    max_new_tokens=frames,
                    use_cache=True,
                    stop_strings=["<|end_of_text|>", "<|eot_id|>"],
                    tokenizer=self.text_tokenizer,
                    do_sample=temperature > 0,
                    temperature=temperature,
                    top_p=top_p,
                    past_key_values_buckets=self.kv_caches,
                    ras_win_len=7,
                    ras_win_max_num_repeat=2,
                    seed=seed,
                )
        finally:
            self.model.train(was_training)
        if not outputs[1]:
            raise HiggsLoraError(f"the model produced no audio for {text!r}")
        # Once the model samples the stream EOS in any codebook, generation forces EOS into the rest one
        # delay step at a time and then ends the stream (modeling_higgs_audio.py `_sample_audio_tokens`);
        # a stream cut by max_new_tokens before the model chose EOS holds none.
        stopped = bool((outputs[1][-1] == self.model.config.audio_stream_eos_id).any())
        codebook_size = self.model.config.audio_codebook_size
        codes = torch.cat(
            [revert_delay_pattern(a).clip(0, codebook_size - 1)[:, 1:-1] for a in outputs[1]], 1
        )
        # A stream that stopped at once has no frames, which the codec's decoder cannot take: silence.
        audio = self.audio_tokenizer.decode(codes.unsqueeze(0))[0, 0] if codes.shape[1] else np.zeros(0)
        return Speech(
            np.asarray(audio, dtype=np.float32), int(self.audio_tokenizer.sampling_rate), codes.cpu(), stopped
        )

    def _inputs(self, text: str, ref_audio: str | Path | None, ref_text: str | None) -> dict[str, Any]:
        import torch
        from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample

        from .data.audio import AudioProblem, load_audio
        from .data.samples import chatml_sample, tokenize_chatml

        sample = chatml_sample(text, self.system_prompt, ref_text, with_target=False)
        tokens, _, _, _ = tokenize_chatml(sample, self.text_tokenizer)
        tokens += self.text_tokenizer.encode(
            "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|>", add_special_tokens=False
        )
        codes = None
        if ref_audio is not None:
            # Encoded once per file: eval and listen prompt every sentence with the same reference, and
            # encoding it cost more than generating a short sentence (2.6 s vs 0.5 s, tiny model, CPU).
            key = (
                str(Path(ref_audio).resolve()),
                Path(ref_audio).stat().st_mtime_ns if Path(ref_audio).exists() else 0,
            )
            if key not in self._reference_codes:
                try:
                    samples = load_audio(Path(ref_audio), self.audio_tokenizer.sampling_rate)
                except AudioProblem as problem:
                    raise HiggsLoraError(f"--ref {ref_audio}: {problem.detail}") from None
                with torch.inference_mode():
                    encoded = self.audio_tokenizer.encode(samples, self.audio_tokenizer.sampling_rate)
                self._reference_codes[key] = encoded.cpu()
            codes = self._reference_codes[key]
        sample = ChatMLDatasetSample(
            input_ids=torch.tensor(tokens, dtype=torch.long),
            label_ids=None,
            audio_ids_concat=codes,
            audio_ids_start=torch.zeros(1, dtype=torch.long) if codes is not None else None,
            audio_waveforms_concat=None,
            audio_waveforms_start=None,
            audio_sample_rate=None,
            audio_speaker_indices=None,
        )
        batch = asdict(self.collator([sample]))
        return {k: v.to(self.model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class TrainingSpeaker:
    """The one Speaker everything that speaks during training shares (`[samples]`, `[eval]`): one set of
    static KV caches, built on first use around the live model (LoRA layers injected, nothing merged)."""

    def __init__(self, text_tokenizer: Any, audio_tokenizer: Any, system_prompt: str) -> None:
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.system_prompt = system_prompt
        self._speaker: Speaker | None = None

    def __call__(self, model: Any) -> Speaker:
        if self._speaker is None:
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            self._speaker = Speaker(base, self.text_tokenizer, self.audio_tokenizer, self.system_prompt)
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
    from .model.load import load_audio_tokenizer, load_text_tokenizer

    speaker = Speaker(
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
    from .adapter import load_adapter, recipe_value, trained_model_config
    from .model.load import load_base_model, pick_runtime
    from .recipe import ModelConfig

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
        config = ModelConfig(
            base=str(folder),
            audio_tokenizer=record.get("audio_tokenizer", DEFAULT_AUDIO_TOKENIZER),
            audio_tokenizer_revision=record.get("audio_tokenizer_revision"),
            compute_dtype=compute_dtype,
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

    from .plan_inference import speech_plan

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
