"""The Higgs format facts every backend shares (`higgs_lora.higgs`): the delay pattern and the ChatML
prompt, held to boson-multimodal's own functions where that environment has them (the oracle)."""

from __future__ import annotations

import pytest
import torch

from higgs_lora.higgs.chatml import IGNORE, chatml_tokens, conversation
from higgs_lora.higgs.delay import (
    apply_delay,
    generation_steps,
    revert_delay,
    spoken_codes,
    stream,
    stream_labels,
    stream_length,
    stream_stopped,
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
    assert torch.equal(spoken_codes(inputs, 1024, EOS), codes)


def _delayed(frames: torch.Tensor) -> torch.Tensor:
    """Frames `[C, n]` (BOS first) as generation writes them: delayed, EOS filling the right."""
    return apply_delay(frames, BOS, EOS)


def _column(value: int, rows: int = 4) -> torch.Tensor:
    return torch.full((rows, 1), value)


def test_a_stream_that_stopped_decodes_its_codes_and_nothing_else() -> None:
    codes = torch.randint(0, 1024, (4, 6))
    delayed = stream(codes, BOS, EOS)  # [BOS | codes | EOS], as boson's engine ends it
    assert torch.equal(spoken_codes(delayed, 1024, EOS), codes) and stream_stopped(delayed, EOS)


def test_a_late_eos_in_the_higher_codebooks_adds_no_frame() -> None:
    """transformers' processor forces EOS into codebook k a step after codebook k - 1's: codebook 0's
    EOS frame holds codes sampled after the stop, and an all-EOS frame follows (one column wider)."""
    codes = torch.randint(0, 1024, (4, 6))
    after_stop = torch.cat([_column(EOS, 1), torch.randint(0, 1024, (3, 1))])
    delayed = _delayed(torch.cat([_column(BOS), codes, after_stop, _column(EOS)], 1))
    assert delayed.shape == (4, 6 + 4 + 2)
    assert revert_delay(delayed)[:, 1:-1].shape == (4, 7), "what [:, 1:-1] keeps: one garbage frame"
    assert torch.equal(spoken_codes(delayed, 1024, EOS), codes) and stream_stopped(delayed, EOS)


def test_an_early_eos_in_a_higher_codebook_ends_the_speech_there() -> None:
    codes = torch.randint(0, 1024, (4, 6))
    frames = torch.cat([_column(BOS), codes, _column(EOS)], 1)
    frames[2, 4:] = EOS  # codebook 2 stopped at frame 4, while codebook 0 still spoke
    assert torch.equal(spoken_codes(_delayed(frames), 1024, EOS), codes[:, :3])


def test_a_stream_cut_by_the_step_limit_keeps_every_complete_frame() -> None:
    codes = torch.randint(0, 1024, (4, 9))
    delayed = _delayed(torch.cat([_column(BOS), codes], 1))[:, : generation_steps(6, 4)]
    assert not stream_stopped(delayed, EOS)
    assert revert_delay(delayed)[:, 1:-1].shape == (4, 5), "what [:, 1:-1] keeps: the last frame lost"
    assert torch.equal(spoken_codes(delayed, 1024, EOS), codes[:, :6])


def test_a_stream_that_stopped_at_once_has_no_frames() -> None:
    delayed = stream(torch.zeros(4, 0, dtype=torch.long), BOS, EOS)
    assert delayed.shape == (4, 5) and stream_stopped(delayed, EOS)
    assert spoken_codes(delayed, 1024, EOS).shape == (4, 0)
    assert spoken_codes(delayed[:, :2], 1024, EOS).shape == (4, 0)  # cut before the BOS frame was whole


def test_codes_past_the_codebook_are_clipped_into_it() -> None:
    codes = torch.randint(0, 1024, (4, 3))
    codes[1, 1] = BOS  # a stray stream BOS sampled mid-stream
    assert spoken_codes(stream(codes, BOS, EOS), 1024, EOS)[1, 1] == 1023


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
    serve_engine_decode = utils.revert_delay_pattern(theirs[0]).clip(0, 1023)[:, 1:-1]  # a stopped stream
    assert torch.equal(spoken_codes(theirs[0], 1024, EOS), serve_engine_decode)


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
