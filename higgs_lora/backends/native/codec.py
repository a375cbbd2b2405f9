"""transformers' Higgs audio codec (`HiggsAudioV2TokenizerModel`) behind the kit's audio-tokenizer duck type.

The kit (codes cache, speakers, eval) expects boson's interface: `encode(samples, sample_rate)` →
codes `[C, frames]`, `decode(codes [1, C, frames])` → `np.ndarray [1, 1, samples]`, `sampling_rate`,
`tps`. The native model takes and returns batched tensors `[B, 1, samples]` / `[B, C, frames]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

TINY = "tiny-random"


class NativeAudioTokenizer:
    """Wraps a `HiggsAudioV2TokenizerModel`; mono float samples in, codes out, and back."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()
        self.sampling_rate = int(model.config.sample_rate)
        self.tps = float(model.config.frame_rate)
        self.num_codebooks = int(model.config.num_quantizers)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> NativeAudioTokenizer:
        self.model.to(device)
        return self

    def eval(self) -> NativeAudioTokenizer:
        self.model.eval()
        return self

    @torch.no_grad()
    def encode(self, samples: np.ndarray | torch.Tensor, sample_rate: int | None = None) -> torch.Tensor:
        """Codes `[num_codebooks, frames]` of a mono clip (resampled to the codec's rate if needed)."""
        waveform = torch.as_tensor(np.asarray(samples, dtype=np.float32)).reshape(1, 1, -1)
        if sample_rate is not None and int(sample_rate) != self.sampling_rate:
            import torchaudio  # the codec's own dependency (it resamples for its HuBERT with it)

            waveform = torchaudio.functional.resample(waveform, int(sample_rate), self.sampling_rate)
        codes = self.model.encode(waveform.to(self.device), return_dict=False)
        return codes[0].long()

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> np.ndarray:
        """Samples `[1, 1, samples]` for codes `[1, num_codebooks, frames]`."""
        audio = self.model.decode(codes.to(self.device).long(), return_dict=False)
        return audio.float().cpu().numpy()


def tiny_audio_tokenizer() -> NativeAudioTokenizer:
    from higgs_lora.backends.native.tiny import build_tiny_codec

    return NativeAudioTokenizer(build_tiny_codec())


def load_audio_tokenizer(config: Any, device: torch.device | str) -> NativeAudioTokenizer:
    """`[model] audio_tokenizer` (a hub id or folder in transformers' layout, or "tiny-random")."""
    if config.audio_tokenizer == TINY:
        return tiny_audio_tokenizer().to(device)
    from transformers import HiggsAudioV2TokenizerModel

    from higgs_lora.core.errors import ModelError

    try:
        model = HiggsAudioV2TokenizerModel.from_pretrained(
            config.audio_tokenizer, revision=config.audio_tokenizer_revision
        )
    except (OSError, ValueError) as err:
        raise ModelError(
            f"[model] audio_tokenizer = {config.audio_tokenizer!r}: transformers cannot load it as a "
            f"HiggsAudioV2TokenizerModel ({err}). The native backend needs the tokenizer in transformers' "
            "layout (the hub's `main` of bosonai/higgs-audio-v2-tokenizer)."
        ) from None
    return NativeAudioTokenizer(model).to(device)


def audio_tokenizer_facts(config: dict[str, Any] | None) -> tuple[float, int]:
    """(frames per second, weight bytes) of a codec config.json (None: the tiny codec), built on meta."""
    from transformers import HiggsAudioV2TokenizerConfig, HiggsAudioV2TokenizerModel

    from higgs_lora.backends.native.tiny import tiny_codec_config

    if config is None:
        codec_config = tiny_codec_config()
    else:
        if config.get("model_type") != "higgs_audio_v2_tokenizer":
            from higgs_lora.core.errors import ModelError

            raise ModelError(
                f"an audio tokenizer config with model_type {config.get('model_type')!r} is not in "
                "transformers' layout (model_type 'higgs_audio_v2_tokenizer'), which the native backend reads."
            )
        fields = {
            k: v
            for k, v in config.items()
            if k not in ("model_type", "architectures", "transformers_version")
        }
        codec_config = HiggsAudioV2TokenizerConfig(**fields)
    with torch.device("meta"):
        model = HiggsAudioV2TokenizerModel(codec_config)
    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    return float(codec_config.frame_rate), int(size)
