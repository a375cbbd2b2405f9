"""Speech through boson-multimodal's generation path, with an adapter merged or injected.

The path is the one `HiggsAudioServeEngine.generate` (serve/serve_engine.py) takes: ChatML prompt →
`HiggsAudioSampleCollator` → `HiggsAudioModel.generate` with static KV-cache buckets → revert the delay
pattern → audio tokenizer decode. We drive those pieces ourselves because the engine only loads models
by path and captures CUDA graphs in its constructor; an adapter is merged or injected *before* any
capture here, never after (a captured graph would replay without it). Two steps differ from the
engine's: greedy is argmax alone (the engine keeps RAS on at temperature 0, `higgs_lora.higgs.sampling`),
`spoken_codes` keeps a cut stream's last frame (the engine's `[:, 1:-1]` drops it), and generation ends
with the audio stream (`AudioStreamEnded`): the engine lets the model go on in text until it ends its
turn, which a model that has not learnt to (the tiny one, an early checkpoint) does only at
`max_new_tokens`, three quarters of the smoke eval's time spent on text nobody hears.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample
from transformers import StoppingCriteria, StoppingCriteriaList

from higgs_lora.backends.boson.collate import higgs_collator
from higgs_lora.backends.boson.samples import chatml_sample, tokenize_chatml
from higgs_lora.backends.speech import (
    DEFAULT_SYSTEM_PROMPT,
    ReferenceCodes,
    Speech,
    check_reference,
    check_text,
)
from higgs_lora.backends.unpacked import unpacked_4bit
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.higgs.delay import generation_steps, spoken_codes, stream_stopped
from higgs_lora.higgs.sampling import SAMPLING, Sampling


class AudioStreamEnded(StoppingCriteria):
    """Stop once the audio stream has ended: boson's generation then writes `<|audio_eos|>` as the text
    token (modeling_higgs_audio.py `_sample_audio_tokens`). One stream is all a speaker returns; the
    native backend's generation ends there too."""

    def __init__(self, audio_eos_id: int) -> None:
        self.audio_eos_id = audio_eos_id

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return input_ids[:, -1] == self.audio_eos_id  # type: ignore[return-value]


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

        self.model = model
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.system_prompt = system_prompt
        self.reference_codes = ReferenceCodes(audio_tokenizer)
        self.sampling = SAMPLING
        """Top-k and RAS of every call, and its temperature and top-p unless the call gives them."""
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
        self.audio_ended = AudioStreamEnded(text_tokenizer.convert_tokens_to_ids("<|audio_eos|>"))
        if capture_cuda_graphs and model.device.type == "cuda":
            model.capture_model(self.kv_caches.values())  # after the adapter is merged or injected

    def __call__(
        self,
        text: str,
        ref_audio: str | Path | None = None,
        ref_text: str | None = None,
        seed: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_seconds: float = 30.0,
    ) -> Speech:
        check_text(text)
        check_reference(ref_audio, ref_text)
        sampling = self.sampling.but(temperature, top_p)
        inputs = self._inputs(text, ref_audio, ref_text)
        config = self.model.config
        steps = generation_steps(int(max_seconds * self.audio_tokenizer.tps), config.audio_num_codebooks)
        for cache in self.kv_caches.values():
            cache.reset()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), unpacked_4bit(self.model):
                outputs = self.model.generate(
                    **inputs,
                    max_new_tokens=steps,
                    use_cache=True,
                    stop_strings=["<|end_of_text|>", "<|eot_id|>"],
                    tokenizer=self.text_tokenizer,
                    stopping_criteria=StoppingCriteriaList([self.audio_ended]),
                    past_key_values_buckets=self.kv_caches,
                    seed=seed,
                    **generate_settings(sampling),
                )
        finally:
            self.model.train(was_training)
        if not outputs[1]:
            raise HiggsLoraError(f"the model produced no audio for {text!r}")
        # Once the model samples the stream EOS in any codebook, generation forces EOS into the rest one
        # delay step at a time and then ends the stream (modeling_higgs_audio.py `_sample_audio_tokens`);
        # a stream cut by max_new_tokens before the model chose EOS holds none.
        eos = config.audio_stream_eos_id
        stopped = stream_stopped(outputs[1][-1], eos)
        codes = torch.cat([spoken_codes(a, config.audio_codebook_size, eos) for a in outputs[1]], 1)
        # A stream that stopped at once has no frames, which the codec's decoder cannot take: silence.
        audio = self.audio_tokenizer.decode(codes.unsqueeze(0))[0, 0] if codes.shape[1] else np.zeros(0)
        return Speech(
            np.asarray(audio, dtype=np.float32), int(self.audio_tokenizer.sampling_rate), codes.cpu(), stopped
        )

    def _inputs(self, text: str, ref_audio: str | Path | None, ref_text: str | None) -> dict[str, Any]:
        sample = chatml_sample(text, self.system_prompt, ref_text, with_target=False)
        tokens, _, _, _ = tokenize_chatml(sample, self.text_tokenizer)
        tokens += self.text_tokenizer.encode(
            "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|>", add_special_tokens=False
        )
        codes = self.reference_codes(ref_audio) if ref_audio is not None else None
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


def generate_settings(sampling: Sampling) -> dict[str, Any]:
    """`sampling` as `HiggsAudioModel.generate`'s keywords, the ones the serve engine passes. Each is
    given, so nothing comes from the checkpoint's generation_config: transformers 4.46 takes `top_k=None`
    as none (its default is 50), boson's generate takes `ras_win_len=None` as no RAS."""
    effective = sampling.effective()
    return {
        "do_sample": not effective.greedy,
        "temperature": 1.0 if effective.greedy else effective.temperature,  # unread when greedy
        "top_k": effective.top_k,
        "top_p": effective.top_p,
        "ras_win_len": effective.ras_window,
        "ras_win_max_num_repeat": effective.ras_max_repeats,
    }
