"""How Higgs is prompted, written once for every backend: the conversation layout and its ChatML tokens.

The layout (boson-multimodal's examples/generation.py): system / [user ref_text / assistant <reference
audio>] / user text / assistant <target audio>, with `start_index` at the target turn, so only the target
audio and its control tokens are labels. The boson backend hands these turns to boson's own
`prepare_chatml_sample` (the oracle); `chatml_tokens` restates that function's rules
(boson_multimodal/dataset/chatml_dataset.py ~L307-447) for the backends that cannot import it, and a test
holds the two to the same tokens. Each piece is encoded on its own, as boson does, so byte-level merges
never cross a piece boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE = -100
AUDIO_OUT_TEXT = "<|audio_out_bos|><|AUDIO_OUT|><|audio_eos|>"
AUDIO_IN_TEXT = "<|audio_bos|><|AUDIO|><|audio_eos|>"
SPEAK_SUFFIX = "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|>"
"""What generation appends to the prompt: the target turn's header and its audio-out BOS token."""


@dataclass(frozen=True)
class Turn:
    role: str
    text: str | None = None
    audio: str | None = None
    """Name of the audio placeholder ("reference" / "target"); None for a text turn."""


def conversation(
    text: str, system_prompt: str, ref_text: str | None = None, with_target: bool = True
) -> list[Turn]:
    """The turns of one example; `with_target=False` gives the inference prompt (ending after the text).
    The target turn, when present, is the last: `start_index = len(turns) - 1`."""
    turns = [Turn("system", system_prompt)]
    if ref_text is not None:
        turns += [Turn("user", ref_text), Turn("assistant", audio="reference")]
    turns.append(Turn("user", text))
    if with_target:
        turns.append(Turn("assistant", audio="target"))
    return turns


def chatml_tokens(
    text: str,
    system_prompt: str,
    ref_text: str | None,
    tokenizer: Any,
    with_target: bool = True,
) -> tuple[list[int], list[int], list[str]]:
    """(input tokens, label tokens, audio placeholder names in order) as `prepare_chatml_sample` gives them.

    Only the target assistant turn (`start_index`, the last turn) is labelled: its
    `<|audio_out_bos|><|AUDIO_OUT|><|audio_eos|>` and `<|eot_id|>`. The collator later unlabels the
    `<|AUDIO_OUT|>` placeholder (boson's `mask_audio_out_token_label`), which the expansion replaces.
    """
    turns = conversation(text, system_prompt, ref_text, with_target)
    start_index = len(turns) - 1
    tokens: list[int] = []
    labels: list[int] = []
    audio: list[str] = []

    def add(piece: str, trained: bool) -> None:
        ids = tokenizer.encode(piece, add_special_tokens=False)
        tokens.extend(ids)
        labels.extend(ids if trained else [IGNORE] * len(ids))

    for index, turn in enumerate(turns):
        begin = "<|begin_of_text|>" if index == 0 else ""
        add(f"{begin}<|start_header_id|>{turn.role}<|end_header_id|>\n\n", False)
        trained = turn.role == "assistant" and index >= start_index
        if turn.audio is None:
            add(turn.text or "", trained)
        else:
            audio.append(turn.audio)
            add(AUDIO_OUT_TEXT if turn.role == "assistant" else AUDIO_IN_TEXT, trained)
        following = turns[index + 1].role if index + 1 < len(turns) else None
        add("<|eom_id|>" if turn.role == "assistant" and following == "assistant" else "<|eot_id|>", trained)
    return tokens, labels, audio
