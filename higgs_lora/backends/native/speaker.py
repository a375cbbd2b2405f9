"""Text → speech with transformers' own Higgs v2 generation (`HiggsAudioV2GenerationMixin`).

The prompt is the boson backend's (`prompt.chatml_tokens` without the target turn, then the target
turn's header and `<|audio_out_bos|>`); a reference clip enters as an audio-out segment with stream
BOS/EOS and the delay pattern, exactly as in training. The mixin's delay-pattern logits processor
forces the stream BOS frame first and, once any codebook emits the stream EOS, EOS into the others one
step at a time; it then ends the row with `eos_token_id`. `spoken_codes` takes the frames before the
stream's first EOS frame (delay pattern reverted), which the codec decodes. Sampling is
`higgs_lora.higgs.sampling`, the boson speaker's settings, given in full (`generation_config`).

Static KV-cache buckets and CUDA graphs are boson-engine features: the native path uses transformers'
dynamic cache, so `kv_cache_lengths` and `capture_cuda_graphs` are accepted and ignored.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig

from higgs_lora.backends.native.collate import NativeCollator, NativeSample
from higgs_lora.backends.speech import (
    DEFAULT_SYSTEM_PROMPT,
    ReferenceCodes,
    Speech,
    check_reference,
    check_text,
)
from higgs_lora.backends.unpacked import unpacked_4bit
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.higgs.chatml import IGNORE, SPEAK_SUFFIX, chatml_tokens
from higgs_lora.higgs.delay import generation_steps, spoken_codes, stream_stopped
from higgs_lora.higgs.sampling import SAMPLING, Sampling

RAS_SETTINGS = ("ras_win_len", "ras_win_max_num_repeat")


class NativeSpeaker:
    """Generates speech with a loaded native model (LoRA merged or injected) and both tokenizers."""

    def __init__(
        self,
        model: Any,
        text_tokenizer: Any,
        audio_tokenizer: Any,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        kv_cache_lengths: tuple[int, ...] = (1024, 4096),
        capture_cuda_graphs: bool = False,
    ) -> None:
        self.model = model
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.system_prompt = system_prompt
        self.collator = NativeCollator(model.config, round_to=1)
        self.reference_codes = ReferenceCodes(audio_tokenizer)
        self.sampling = SAMPLING
        """Top-k and RAS of every call, and its temperature and top-p unless the call gives them."""

    def __call__(
        self,
        text: str,
        ref_audio: str | Path | None = None,
        ref_text: str | None = None,
        seed: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_seconds: float = 30.0,
    ) -> Any:  # -> higgs_lora.speak.Speech
        check_text(text)
        check_reference(ref_audio, ref_text)
        codes = self.reference_codes(ref_audio) if ref_audio is not None else None
        return self.generate(text, codes, ref_text, seed, temperature, top_p, max_seconds)

    def generate(
        self,
        text: str,
        ref_codes: torch.Tensor | None,
        ref_text: str | None,
        seed: int | None,
        temperature: float | None,
        top_p: float | None,
        max_seconds: float,
    ) -> Any:
        """`__call__` with the reference given as codes `[C, frames]` (tests, callers that cached them)."""

        config = self.model.config
        inputs, prompt_frames = self._inputs(text, ref_codes, ref_text)
        steps = generation_steps(int(max_seconds * self.audio_tokenizer.tps), config.num_codebooks)
        sampling = self.sampling.but(temperature, top_p)
        generation = generation_config(
            sampling,
            max_new_tokens=steps,
            eos_token_id=config.eos_token_id,
            pad_token_id=config.pad_token_id,
            use_cache=True,
            return_dict_in_generate=True,
        )
        was_training = self.model.training
        self.model.eval()
        try:
            with (
                _seeded(seed, self.model.device),
                _checkpoint_ras_hidden(self.model, generation),
                torch.no_grad(),
                unpacked_4bit(self.model),
            ):
                out = self.model.generate(**inputs, generation_config=generation)
        finally:
            self.model.train(was_training)
        stream = out.audio_sequences[0, prompt_frames:].T.cpu()  # [C, generated frames], delayed
        if stream.shape[1] == 0:
            raise HiggsLoraError(f"the model produced no audio for {text!r}")
        eos = config.audio_stream_eos_id
        stopped = stream_stopped(stream, eos)  # else max_new_tokens cut it before the model chose EOS
        codes = spoken_codes(stream, config.codebook_size - 2, eos)  # its size counts BOS and EOS
        # A stream that stopped at once has no frames, which the codec's decoder cannot take: silence.
        audio = self.audio_tokenizer.decode(codes.unsqueeze(0))[0, 0] if codes.shape[1] else np.zeros(0)
        return Speech(
            np.asarray(audio, dtype=np.float32), int(self.audio_tokenizer.sampling_rate), codes, stopped
        )

    def _inputs(
        self, text: str, ref_codes: torch.Tensor | None, ref_text: str | None
    ) -> tuple[dict[str, torch.Tensor], int]:
        tokens, _, _ = chatml_tokens(
            text, self.system_prompt, ref_text, self.text_tokenizer, with_target=False
        )
        tokens += self.text_tokenizer.encode(SPEAK_SUFFIX, add_special_tokens=False)
        sample = NativeSample(
            torch.tensor(tokens),
            torch.full((len(tokens),), IGNORE),
            [ref_codes] if ref_codes is not None else [],
        )
        row = self.collator.expand(sample)
        device = self.model.device
        inputs = {
            "input_ids": torch.tensor([row["ids"]], device=device),
            "attention_mask": torch.ones(1, len(row["ids"]), dtype=torch.long, device=device),
        }
        prompt_frames = row["frames"].shape[0]
        if prompt_frames:
            inputs["audio_input_ids"] = row["frames"].unsqueeze(0).to(device)
            inputs["audio_input_ids_mask"] = torch.ones(1, prompt_frames, dtype=torch.bool, device=device)
        return inputs, prompt_frames


def generation_config(sampling: Sampling, **settings: Any) -> GenerationConfig:
    """`sampling` as a GenerationConfig for `HiggsAudioV2GenerationMixin`, every setting given.

    `generate()` fills each setting left None from the checkpoint's generation_config, then from
    transformers' defaults: `top_k=None` becomes 50, and the `ras_win_len=7` that transformers'
    conversion script writes into generation_config.json comes back. So no top-k is `top_k=0` (the
    warper is skipped at 0), and no RAS is the checkpoint's hidden for the call
    (`_checkpoint_ras_hidden`). Greedy sets nothing a draw would read.
    """
    effective = sampling.effective()
    generation = GenerationConfig(do_sample=not effective.greedy, **settings)
    if not effective.greedy:
        generation.temperature = effective.temperature
        generation.top_p = effective.top_p
        generation.top_k = effective.top_k or 0
    if effective.ras_window is not None:
        generation.ras_win_len = effective.ras_window
        generation.ras_win_max_num_repeat = effective.ras_max_repeats
    return generation


@contextlib.contextmanager
def _checkpoint_ras_hidden(model: Any, generation: GenerationConfig):
    """While `generation` asks for no RAS, the model's generation_config holds none to fill in."""
    saved = model.generation_config
    if getattr(generation, "ras_win_len", None) is not None or not any(
        hasattr(saved, key) for key in RAS_SETTINGS
    ):
        yield
        return
    hidden = copy.deepcopy(saved)
    for key in RAS_SETTINGS:
        hidden.__dict__.pop(key, None)
    model.generation_config = hidden
    try:
        yield
    finally:
        model.generation_config = saved


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device):
    """Seed generation without moving the caller's RNG (a speaker runs inside training)."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
