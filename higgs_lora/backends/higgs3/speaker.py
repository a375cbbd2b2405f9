"""Text → speech with Higgs TTS 3: prefill the prompt, then one delayed audio row per step.

The state machine is upstream's (sglang-omni `sglang_omni/models/higgs_tts/sampler.py` `step`): the
prompt ends at `<|audio|>`, whose logits give row 0; during the first C steps codebooks above the step
are forced to BOC (the delay pattern's fill); after that, codebook 0 sampling EOC starts a wind-down of
C - 2 more rows, after which generation is done, so a clip of T frames is exactly T + C - 1 rows (the
delayed layout the collator trains on). Each row's codes are fed back as the next input, embedded as
the sum of their table rows (sglang-omni `model.py` `_decode_step_embeds_cg`). Upstream's v3 sampler
has temperature, top-p and top-k and no RAS, so RAS is off here whatever `SAMPLING` says.

Uses transformers' dynamic KV cache; `kv_cache_lengths` and `capture_cuda_graphs` (boson engine
features) do not apply.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from higgs_lora.backends.higgs3.collate import (
    BOC,
    EOC,
    Higgs3Collator,
    Higgs3Sample,
    pad_token_of,
    prompt_parts,
)
from higgs_lora.backends.speech import ReferenceCodes, Speech, check_reference, check_text
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.higgs.delay import revert_delay
from higgs_lora.higgs.sampling import SAMPLING, Sampling


class Higgs3Speaker:
    """Generates speech with a loaded Higgs TTS 3 model (LoRA merged or injected) and both tokenizers."""

    def __init__(self, model: Any, text_tokenizer: Any, audio_tokenizer: Any) -> None:
        self.model = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.num_codebooks = int(self.model.config.num_codebooks)
        self.collator = Higgs3Collator(self.num_codebooks, pad_token_of(self.model.config), round_to=1)
        self.reference_codes = ReferenceCodes(audio_tokenizer)
        self.sampling = replace(SAMPLING, ras_window=None)
        """Top-k of every call, and its temperature and top-p unless the call gives them (no RAS)."""

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
    ) -> Speech:
        """`__call__` with the reference given as codes `[C, frames]` (tests, callers that cached them)."""
        sampling = self.sampling.but(temperature, top_p).effective()
        max_rows = int(max_seconds * self.audio_tokenizer.tps) + self.num_codebooks - 1
        was_training = self.model.training
        self.model.eval()
        try:
            with _seeded(seed, self.model.device), torch.no_grad():
                rows, stopped = self._rows(text, ref_codes, ref_text, sampling, max_rows)
        finally:
            self.model.train(was_training)
        if rows.shape[0] == 0:
            raise HiggsLoraError(f"the model produced no audio for {text!r}")
        codes = spoken_codes(rows, self.model.config.codebook_size - 2)
        # A stream that ended at once has no frames, which the codec's decoder cannot take: silence.
        audio = self.audio_tokenizer.decode(codes.unsqueeze(0))[0, 0] if codes.shape[1] else np.zeros(0)
        return Speech(
            np.asarray(audio, dtype=np.float32), int(self.audio_tokenizer.sampling_rate), codes, stopped
        )

    def _rows(
        self,
        text: str,
        ref_codes: torch.Tensor | None,
        ref_text: str | None,
        sampling: Sampling,
        max_rows: int,
    ) -> tuple[torch.Tensor, bool]:
        """The generated delayed rows `[W, C]`, and whether codebook 0's EOC ended them."""
        model, c = self.model, self.num_codebooks
        device = model.device
        before, after = prompt_parts(text, ref_text, ref_codes is not None, self.text_tokenizer)
        batch = self.collator([Higgs3Sample(before, after, ref_codes, None)])
        embeds = model.embed(
            batch["input_ids"].to(device), batch["audio_ids"].to(device), batch["audio_mask"].to(device)
        )
        position = embeds.shape[1]
        logits, cache = model.audio_step(embeds, torch.arange(position, device=device)[None], None)
        rows: list[torch.Tensor] = []
        wind_down: int | None = None
        for step in range(max_rows):
            codes = sample(logits[0], sampling)
            done = False
            if step < c:  # the delay window: codebooks not started yet hold BOC
                codes[step + 1 :] = BOC
            elif wind_down is not None:
                wind_down -= 1
                done = wind_down <= 0
            elif int(codes[0]) == EOC:
                wind_down = c - 2
                done = wind_down <= 0
            rows.append(codes)
            if done:
                return torch.stack(rows), True
            embed = model.audio_table.embed(codes[None, None]).to(embeds.dtype)
            logits, cache = model.audio_step(embed, torch.tensor([[position]], device=device), cache)
            position += 1
        stacked = torch.stack(rows) if rows else torch.zeros(0, c, dtype=torch.long)
        return stacked, wind_down is not None


def sample(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """One code per codebook from `[C, K]` logits: argmax, or temperature → top-k → top-p → draw."""
    if sampling.greedy:
        return logits.argmax(-1)
    logits = logits / sampling.temperature
    if sampling.top_k is not None:
        kth = logits.topk(min(sampling.top_k, logits.shape[-1]), -1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        ordered, order = logits.sort(-1, descending=True)
        drop = ordered.softmax(-1).cumsum(-1) > sampling.top_p
        drop[:, 1:] = drop[:, :-1].clone()  # keep the token that crosses top-p, and always the first
        drop[:, 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1)[:, 0]


def spoken_codes(rows: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """Generated delayed rows `[W, C]` → codes `[C, T]`: the delay reverted, cut at the first frame
    holding EOC in any codebook (as `higgs.delay.spoken_codes` does for v2), a stray BOC clipped into
    the codebook."""
    num_codebooks = rows.shape[1]
    if rows.shape[0] < num_codebooks:  # not one frame complete in every codebook
        return rows.new_zeros((num_codebooks, 0))
    frames = revert_delay(rows.T)
    ends = (frames == EOC).any(0).nonzero()
    if len(ends):
        frames = frames[:, : int(ends[0, 0])]
    return frames.clip(0, codebook_size - 1)


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device):
    """Seed generation without moving the caller's RNG (a speaker runs inside training)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield
