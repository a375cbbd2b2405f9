"""Higgs TTS 3's prompt and batch layout: upstream's token order and ids, the delay pattern without a
BOS/EOS column, targets shifted by the loss with BOC masked and EOC kept, the reference no target."""

from __future__ import annotations

import pytest
import torch

from higgs_lora.backends.higgs3.collate import BOC, EOC, Higgs3Collator, Higgs3Sample, delayed, prompt_parts
from higgs_lora.backends.higgs3.speaker import spoken_codes
from higgs_lora.higgs.chatml import IGNORE

pytestmark = pytest.mark.backend("higgs3")
TTS, AUDIO, TEXT, REF_AUDIO, REF_TEXT = 151667, 151670, 151672, 151679, 151680


def test_prompt_order_and_ids(higgs3_text_tokenizer) -> None:
    before, after = prompt_parts("Hi", None, False, higgs3_text_tokenizer)
    hi = higgs3_text_tokenizer.encode("Hi", add_special_tokens=False)
    assert before == [TTS] and after == [TEXT, *hi, AUDIO]
    before, _ = prompt_parts("Hi", "Ref.", True, higgs3_text_tokenizer)
    ref = higgs3_text_tokenizer.encode("Ref.", add_special_tokens=False)
    assert before == [TTS, REF_TEXT, *ref, REF_AUDIO]


def test_delay_pattern_rows() -> None:
    codes = torch.arange(12).view(4, 3)  # [C=4, T=3]
    rows = delayed(codes, 4)
    assert rows.shape == (3 + 4 - 1, 4)
    assert rows[:, 2].tolist() == [BOC, BOC, 6, 7, 8, EOC]
    assert rows[:, 0].tolist() == [0, 1, 2, EOC, EOC, EOC]  # codebook 0's EOC at row T: the stop
    assert torch.equal(spoken_codes(rows, 1024), codes)


def test_batch_layout_and_targets(higgs3_text_tokenizer) -> None:
    generator = torch.Generator().manual_seed(0)
    ref, target = (
        torch.randint(0, 1024, (4, 5), generator=generator),
        torch.randint(0, 1024, (4, 3), generator=generator),
    )
    before, after = prompt_parts("Hi", "Ref.", True, higgs3_text_tokenizer)
    batch = Higgs3Collator(4, 151643)(
        [Higgs3Sample(before, after, ref, target), Higgs3Sample(before, after, None, target)]
    )
    ids, out, audio = batch["input_ids"][0], batch["audio_out_mask"][0], batch["audio_mask"][0]
    n_ref = 5 + 3
    start = len(before)
    assert audio[start : start + n_ref].all() and not audio[:start].any()
    assert torch.equal(batch["audio_ids"][0, start : start + n_ref], delayed(ref, 4))
    audio_at = start + n_ref + len(after) - 1
    assert ids[audio_at] == AUDIO and out[audio_at] and out.sum() == 1 + 6  # <|audio|> + T + C - 1 rows
    assert torch.equal(batch["audio_ids"][0, audio_at + 1 : audio_at + 7], delayed(target, 4))
    labels = batch["label_audio_ids"]
    assert labels.shape == (4, 2 * 7)  # both samples: <|audio|> + 6 rows
    first = labels[:, :7]
    assert (first[:, 0] == IGNORE).all()  # <|audio|>'s own column: nothing predicts it
    assert torch.equal(
        first[:, 1:].T[first[:, 1:].T != IGNORE], delayed(target, 4)[delayed(target, 4) != BOC]
    )
    assert (first == EOC).sum() == 1 + 2 + 3 and (first == BOC).sum() == 0
    assert (batch["label_ids"] == IGNORE).all()
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()  # padded right


def test_shift_the_logits_at_audio_predict_row_zero() -> None:
    """Loss alignment: audio_logits[j] is scored against label column j + 1 (`higgs_loss`)."""
    from higgs_lora.higgs.loss import higgs_loss

    target = torch.randint(0, 1024, (4, 3), generator=torch.Generator().manual_seed(1))
    sample = Higgs3Sample([TTS], [TEXT, 72, AUDIO], None, target)
    batch = Higgs3Collator(4, 151643)([sample])
    rows = delayed(target, 4)  # what each audio-out position must predict next: row 0 from <|audio|>
    logits = torch.full((7, 4, 1026), -30.0)
    for j in range(6):
        logits[j, torch.arange(4), rows[j]] = 30.0
    hidden = torch.zeros(*batch["label_ids"].shape, 2)
    loss = higgs_loss(hidden, batch["label_ids"], logits, batch["label_audio_ids"])
    assert loss.audio.item() < 1e-6 and loss.audio_targets == 4 * 6 - 6


def test_example_length_is_the_collated_length(tmp_path, higgs3_text_tokenizer) -> None:
    from higgs_lora.backends.higgs3.collate import encode_example, example_length
    from higgs_lora.higgs.examples import Example, save_codes

    generator = torch.Generator().manual_seed(4)
    for name, frames in (("ref", 9), ("target", 6)):
        save_codes(
            tmp_path / f"{name}.safetensors",
            torch.randint(0, 1024, (4, frames), generator=generator),
            tmp_path,
        )
    for example in (
        Example("Hi there.", tmp_path / "target.safetensors"),
        Example("Hi there.", tmp_path / "target.safetensors", "Ref.", tmp_path / "ref.safetensors"),
    ):
        row = Higgs3Collator(4, 151643).row(encode_example(example, higgs3_text_tokenizer))
        assert example_length(example, higgs3_text_tokenizer, 4) == len(row["ids"])
