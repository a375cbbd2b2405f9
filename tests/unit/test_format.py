"""The Higgs format facts every backend shares (`higgs_lora.higgs`): the delay pattern and the ChatML
prompt, held to boson-multimodal's own functions where that environment has them (the oracle)."""

from __future__ import annotations

import pytest
import torch

from higgs_lora.higgs.chatml import IGNORE, chatml_tokens, conversation
from higgs_lora.higgs.delay import (
    apply_delay,
    revert_delay,
    spoken_codes,
    stream,
    stream_labels,
    stream_length,
)

BOS, EOS = 1024, 1025
PROMPT = "Generate audio following instruction."


def test_delay_pattern_round_trips() -> None:
    codes = torch.arange(12).view(3, 4)
    delayed = apply_delay(codes, -1, -2)
    assert delayed.tolist() == [[0, 1, 2, 3, -2, -2], [-1, 4, 5, 6, 7, -2], [-1, -1, 8, 9, 10, 11]]
    assert torch.equal(revert_delay(delayed), codes)


def test_a_stream_labels_its_eos_and_never_its_bos_or_delay_fill() -> None:
    codes = torch.randint(0, 1024, (4, 5))
    inputs, labels = stream(codes, BOS, EOS), stream_labels(codes, EOS)
    assert inputs.shape == labels.shape == (4, stream_length(5, 4))
    assert (revert_delay(labels)[:, 0] == IGNORE).all() and (revert_delay(labels)[:, -1] == EOS).all()
    assert torch.equal(revert_delay(labels)[:, 1:-1], codes)
    assert (labels[inputs == BOS] == IGNORE).all(), "the BOS column and the delay fill are no targets"
    assert torch.equal(spoken_codes(inputs, 1024), codes)


def test_the_conversation_ends_with_the_target_turn_only_when_training() -> None:
    turns = conversation("Hello.", PROMPT, "Ref.")
    assert [(t.role, t.audio) for t in turns] == [
        ("system", None), ("user", None), ("assistant", "reference"), ("user", None), ("assistant", "target"),
    ]  # fmt: skip
    assert conversation("Hello.", PROMPT, with_target=False)[-1].text == "Hello."


def test_the_delay_pattern_is_boson_multimodals() -> None:
    utils = pytest.importorskip("boson_multimodal.model.higgs_audio.utils")
    codes = torch.randint(0, 1024, (8, 6))
    wrapped = torch.cat([torch.full((8, 1), BOS), codes, torch.full((8, 1), EOS)], 1)
    theirs, _ = utils.build_delay_pattern_mask(wrapped.unsqueeze(0), BOS, EOS)
    assert torch.equal(stream(codes, BOS, EOS), theirs[0])
    assert torch.equal(revert_delay(theirs[0]), utils.revert_delay_pattern(theirs[0]))


@pytest.mark.parametrize("ref_text", [None, "What the reference says."])
def test_the_chatml_tokens_are_boson_multimodals(text_tokenizer, ref_text) -> None:
    pytest.importorskip("boson_multimodal")
    from higgs_lora.backends.boson.samples import chatml_sample, tokenize_chatml

    ours = chatml_tokens("Say this, please.", PROMPT, ref_text, text_tokenizer)
    tokens, labels, audio, _ = tokenize_chatml(
        chatml_sample("Say this, please.", PROMPT, ref_text), text_tokenizer
    )
    assert (ours[0], ours[1]) == (list(tokens), list(labels))
    assert ours[2] == [content.audio_url for content in audio]
