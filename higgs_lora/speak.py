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
        from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample, prepare_chatml_sample

        from .data.audio import AudioProblem, load_audio
        from .data.samples import chatml_sample

        sample = chatml_sample(text, self.system_prompt, ref_text, with_target=False)
        tokens, _, _, _ = prepare_chatml_sample(sample, self.text_tokenizer)
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
    force: bool = False,
    trust_pickle: bool = False,
) -> Speech:
    """Speak `text` with an adapter (`adapters/NAME`) or a merged model folder; write `out` if given."""
    if (adapter is None) == (model is None):
        raise HiggsLoraError("give exactly one of --adapter adapters/NAME or --model DIR")
    if out is not None and Path(out).exists() and not force:
        raise OutputExistsError(f"{out} exists. Pass --force to replace it, or choose another --out.")
    loaded, tokenizer_source, tokenizer_name = _load_for_speech(adapter, model, trust_pickle)
    speaker = Speaker(
        loaded,
        _text_tokenizer(tokenizer_source),
        _audio_tokenizer(audio_tokenizer or tokenizer_name, loaded.device),
        capture_cuda_graphs=True,
    )
    speech = speaker(text, ref_audio, ref_text, seed=seed, temperature=temperature, max_seconds=max_seconds)
    if out is not None:
        speech.save(out, force=force)
    return speech


def _load_for_speech(
    adapter: str | Path | None, model: str | Path | None, trust_pickle: bool = False
) -> tuple[Any, str, str]:
    """(plain model with any adapter merged in, text tokenizer source, audio tokenizer name)."""
    import torch

    from .adapter import adapter_base, load_adapter, recipe_value
    from .model.load import resolve_base

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if adapter is not None:
        peft_model = load_adapter(adapter, dtype=dtype, trust_pickle=trust_pickle)
        merged = peft_model.merge_and_unload()  # in memory: generation needs no PEFT wrapper
        base = adapter_base(adapter)
        return (
            merged,
            resolve_base(base),
            recipe_value(adapter, "model", "audio_tokenizer", DEFAULT_AUDIO_TOKENIZER),
        )
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    folder = Path(model)  # type: ignore[arg-type]
    if not (folder / "config.json").is_file():
        raise HiggsLoraError(f"--model {folder}: no config.json there; give a merged model folder.")
    loaded = HiggsAudioModel.from_pretrained(str(folder), torch_dtype=dtype).to(device).eval()
    merge_info = folder / "higgs_lora_merge.json"
    name = DEFAULT_AUDIO_TOKENIZER
    if merge_info.is_file():
        name = json.loads(merge_info.read_text(encoding="utf-8")).get("audio_tokenizer", name)
    return loaded, str(folder), name


def _text_tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source)


def _audio_tokenizer(name: str, device: Any) -> Any:
    from .model.load import load_audio_tokenizer
    from .recipe import ModelConfig

    return load_audio_tokenizer(ModelConfig(audio_tokenizer=name), device)
