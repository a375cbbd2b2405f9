"""The loss against a hand computation on a real collated batch through the tiny model."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import torch

from higgs_lora.backends.boson.tiny import build_tiny_model
from higgs_lora.higgs.loss import higgs_loss
from tests.helpers import synthetic_batch

EOS, AUDIO_OUT_BOS, AUDIO_EOS, EOT = 1025, 128013, 128012, 128009


def segments(batch: dict[str, torch.Tensor]) -> list[tuple[int, int]]:
    starts = [*batch["audio_out_ids_start"].tolist(), batch["audio_out_ids"].shape[1]]
    return list(itertools.pairwise(starts))


def test_labels_exclude_reference_keep_eos_and_follow_delay_pattern(tmp_path: Path, text_tokenizer) -> None:
    batch, codes = synthetic_batch(tmp_path, text_tokenizer)
    labels = batch["label_audio_ids"]
    (ref_start, ref_end), (t1_start, t1_end), (t2_start, t2_end) = segments(batch)
    assert (labels[:, ref_start:ref_end] == -100).all(), "reference audio must never be a target"
    for (start, end), target in (((t1_start, t1_end), codes[1]), ((t2_start, t2_end), codes[2])):
        frames = target.shape[1]
        assert ((labels[:, start:end] == EOS).sum(dim=1) == 1).all(), "EOS is a target once per codebook"
        for k in range(4):  # delay pattern: codebook k is shifted right by k
            row = labels[k, start + k : start + k + frames + 2].tolist()
            assert row == [-100, *target[k].tolist(), EOS]
            assert (labels[k, start : start + k] == -100).all()


def test_loss_equals_hand_computation(tmp_path: Path, text_tokenizer) -> None:
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    label_audio_ids = batch.pop("label_audio_ids")
    with torch.no_grad():
        out = build_tiny_model()(**batch)
    logits, labels, audio_logits = out.logits, out.expanded_labels, out.audio_logits
    loss = higgs_loss(logits, labels, audio_logits, label_audio_ids, text_loss_weight=0.5)

    text_terms, text_targets = [], []
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            target = int(labels[b, t + 1])
            if target != -100:  # logits at t predict token t+1
                text_terms.append(-torch.log_softmax(logits[b, t].double(), -1)[target].item())
                text_targets.append(target)
    audio_terms = []
    for j in range(audio_logits.shape[0] - 1):
        for c in range(audio_logits.shape[1]):
            target = int(label_audio_ids[c, j + 1])
            if target != -100:  # audio frame j predicts frame j+1
                audio_terms.append(-torch.log_softmax(audio_logits[j, c].double(), -1)[target].item())

    # TTS text targets are exactly the control tokens of the two target turns.
    assert sorted(text_targets) == sorted([AUDIO_OUT_BOS, AUDIO_EOS, EOT] * 2)
    assert len(audio_terms) == loss.audio_targets == 4 * (9 + 1) + 4 * (5 + 1)
    text, audio = sum(text_terms) / len(text_terms), sum(audio_terms) / len(audio_terms)
    assert math.isclose(loss.text.item(), text, rel_tol=1e-5)
    assert math.isclose(loss.audio.item(), audio, rel_tol=1e-5)
    assert math.isclose(loss.total.item(), audio + 0.5 * text, rel_tol=1e-5)
    assert loss.per_codebook.shape == (4,)


def test_padding_and_reference_positions_do_not_affect_the_loss(tmp_path: Path, text_tokenizer) -> None:
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    label_audio_ids = batch.pop("label_audio_ids")
    with torch.no_grad():
        out = build_tiny_model()(**batch)
    base = higgs_loss(out.logits, out.expanded_labels, out.audio_logits, label_audio_ids).total

    padded = out.attention_mask == 0
    assert padded.any(), "the two samples differ in length, so one is padded"
    logits = out.logits.clone()
    logits[padded] += torch.randn_like(logits[padded]) * 50
    assert torch.equal(higgs_loss(logits, out.expanded_labels, out.audio_logits, label_audio_ids).total, base)

    (ref_start, ref_end), (t1_start, _), _ = segments(batch)
    audio_logits = out.audio_logits.clone()
    audio_logits[ref_start:ref_end] += 50.0 * torch.randn_like(audio_logits[ref_start:ref_end])
    assert torch.equal(higgs_loss(out.logits, out.expanded_labels, audio_logits, label_audio_ids).total, base)

    audio_logits[t1_start + 1] += 50.0 * torch.randn_like(audio_logits[t1_start + 1])
    assert higgs_loss(out.logits, out.expanded_labels, audio_logits, label_audio_ids).total != base


def test_no_text_targets_gives_zero_text_loss_not_nan() -> None:
    logits = torch.randn(1, 5, 11, requires_grad=True)
    labels = torch.full((1, 5), -100)
    audio_logits = torch.randn(3, 2, 7)
    audio_labels = torch.tensor([[-100, 1, 6], [-100, -100, 2]])
    loss = higgs_loss(logits, labels, audio_logits, audio_labels)
    assert loss.text.item() == 0.0 and loss.text_targets == 0
    loss.total.backward()
    assert torch.isfinite(loss.total)


def test_deferred_text_head_gives_the_same_loss_and_gradients(tmp_path: Path, text_tokenizer) -> None:
    from higgs_lora.core.schema import LoraConfig, ModelConfig
    from higgs_lora.model import apply_lora, load_base_model
    from higgs_lora.model.lean import DeferredTextHead

    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    label_audio_ids = batch.pop("label_audio_ids")
    torch.manual_seed(0)
    model = apply_lora(
        load_base_model(ModelConfig(base="tiny-random", quantization="none")),
        LoraConfig(r=4, dropout=0.0, targets=["attention", "heads"]),
    )
    text_head = DeferredTextHead(model)

    def run(defer: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad()
        if defer:
            with text_head.deferring():
                out = model(**batch)
            loss = higgs_loss(
                out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=text_head.head
            )
        else:
            out = model(**batch)
            loss = higgs_loss(out.logits, out.expanded_labels, out.audio_logits, label_audio_ids)
        loss.total.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        return loss.total.detach(), out.logits.shape, grads

    full_loss, full_shape, full_grads = run(False)
    lean_loss, lean_shape, lean_grads = run(True)
    vocab, hidden = model.config.text_config.vocab_size, model.config.text_config.hidden_size
    assert full_shape[-1] == vocab and lean_shape[-1] == hidden  # no text logits left the model
    torch.testing.assert_close(lean_loss, full_loss)
    for name in full_grads:
        torch.testing.assert_close(lean_grads[name], full_grads[name], rtol=1e-5, atol=1e-7)
