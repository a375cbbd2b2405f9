"""Text logits only where a text label can be: the largest memory saving in Higgs TTS training.

`HiggsAudioDecoderProjector.forward` (audio_head.py) applies the 128256-way text head to every
position, audio frames included, although in TTS the only text targets are a few control tokens
(`<|audio_out_bos|>`, `<|audio_eos|>`, `<|eot_id|>`). For 30 s of audio that is ~900 rows of logits
(and their gradient) where ~150 can matter. While `selecting()` is active, a pre-hook on the projector
reads its `audio_out_mask` and the text head (whatever module sits there, LoRA-wrapped or not) runs
only on rows whose *next* position is not audio: every row that can predict a text label. The model
then returns those rows as `logits [K, vocab]` and `rows` says where they came from; the loss is
unchanged (tests compare both ways). Outside `selecting()` (generation, merging) nothing changes.
The head's bound `forward` is wrapped as an instance attribute: classes and state-dict keys stay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn


class TextRowSelector:
    def __init__(self, model: nn.Module) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        projector = base.audio_decoder_proj
        if getattr(projector.config, "audio_decoder_proj_num_layers", 0):
            raise ValueError("text-row selection supports projectors without transformer layers only")
        self.rows: torch.Tensor | None = None
        self._active = False
        projector.register_forward_pre_hook(self._capture, with_kwargs=True)
        head = projector.text_lm_head
        head.forward = self._selective(head.forward)

    @contextlib.contextmanager
    def selecting(self) -> Iterator[TextRowSelector]:
        """Within the block, forward passes return text logits for the selected rows only."""
        self._active, self.rows = True, None
        try:
            yield self
        finally:
            self._active = False

    def _capture(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not self._active:
            return
        audio = args[1] if len(args) > 1 else kwargs["audio_out_mask"]
        rows = torch.zeros_like(audio)
        rows[:, :-1] = ~audio[:, 1:]  # row t can predict a text label iff position t+1 is text
        self.rows = rows

    def _selective(self, forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            if not self._active or self.rows is None:
                return forward(hidden_states, *args, **kwargs)
            return forward(hidden_states[self.rows], *args, **kwargs)

        return run
