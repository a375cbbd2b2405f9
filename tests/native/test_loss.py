"""The kit's loss over the native model's outputs: exactly the targets boson's layout has."""

from __future__ import annotations

import pytest
import torch

from higgs_lora.backends.native.collate import NativeCollator, NativeSample
from higgs_lora.backends.native.model import NativeHiggsForLoRA
from higgs_lora.higgs.chatml import chatml_tokens
from higgs_lora.higgs.loss import higgs_loss
from tests.native.conftest import SYSTEM_PROMPT


@pytest.fixture(scope="module")
def model(tiny_config):
    torch.manual_seed(0)
    return NativeHiggsForLoRA(tiny_config, use_text_head=True).eval()


def _batch(tiny_config, tokenizer, ref: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 1024, (4, 5), generator=generator)
    audio = [torch.randint(0, 1024, (4, 3), generator=generator), target] if ref else [target]
    tokens, labels, _ = chatml_tokens("Hi.", SYSTEM_PROMPT, "Ref." if ref else None, tokenizer)
    return NativeCollator(tiny_config)([NativeSample(torch.tensor(tokens), torch.tensor(labels), audio)])


def test_hand_built_batch_has_exactly_the_known_targets(tiny_config, native_text_tokenizer) -> None:
    batch = _batch(tiny_config, native_text_tokenizer, ref=True)
    labels = batch["label_audio_ids"]  # reference: 3 + 5 positions, target: 5 + 5
    assert labels.shape == (4, 18)
    # Audio logits that put all mass on the right code at every target (shifted: frame j predicts j+1).
    audio_logits = torch.zeros(18, 4, 1026)
    for j in range(17):
        for k in range(4):
            if labels[k, j + 1] != -100:
                audio_logits[j, k, labels[k, j + 1]] = 100.0
    text_labels = batch["label_ids"]
    text_logits = torch.zeros(*text_labels.shape, 128256)
    for t in range(text_labels.shape[1] - 1):
        if text_labels[0, t + 1] != -100:
            text_logits[0, t, text_labels[0, t + 1]] = 100.0
    perfect = higgs_loss(text_logits, text_labels, audio_logits, labels)
    assert perfect.total.item() < 1e-6
    assert perfect.audio_targets == 4 * 6  # the target's 5 frames + its EOS, per codebook; nothing else
    assert perfect.text_targets == 3  # <|audio_out_bos|>, <|audio_eos|>, <|eot_id|> of the target turn

    # The reference, the target's BOS column and the delay fill are no targets: changing what their
    # predecessors predict changes nothing. Frame 8 is the target's BOS (predicted from reference frame 7).
    noisy = audio_logits.clone()
    noisy[:8] = torch.randn(8, 4, 1026)
    noisy[8, 1:] = torch.randn(3, 1026)  # BOS frame predicts codebook 0's first code only (delay)
    assert higgs_loss(text_logits, text_labels, noisy, labels).total.item() < 1e-6
    # The EOS is a target: the frame before codebook 0's EOS must predict it.
    eos_column = 8 + 1 + 5  # BOS, 5 codes, then codebook 0's EOS
    assert labels[0, eos_column] == 1025
    wrong = audio_logits.clone()
    wrong[eos_column - 1, 0] = 0.0
    assert higgs_loss(text_logits, text_labels, wrong, labels).total.item() > 0.1


def test_model_outputs_feed_the_loss_and_the_text_head_defers(
    model, tiny_config, native_text_tokenizer
) -> None:
    batch = _batch(tiny_config, native_text_tokenizer, ref=False)
    labels = batch.pop("label_audio_ids")
    with torch.no_grad():
        out = model(**batch, labels=None)  # PEFT's causal-LM wrapper passes labels=; absorbed
        assert out.logits.shape == (*batch["input_ids"].shape, 128256)
        assert torch.equal(out.expanded_labels, batch["label_ids"])
        assert out.audio_logits.shape == (10, 4, 1026)
        full = higgs_loss(out.logits, out.expanded_labels, out.audio_logits, labels)
        # model.lean's deferral: the head passes hidden states through, the loss applies it to labelled rows.
        head = model.text_lm_head
        original = head.forward
        head.forward = lambda hidden: hidden
        try:
            deferred_out = model(**batch)
        finally:
            head.forward = original
        assert deferred_out.logits.shape[-1] == tiny_config.hidden_size
        deferred = higgs_loss(
            deferred_out.logits,
            deferred_out.expanded_labels,
            deferred_out.audio_logits,
            labels,
            text_head=original,
        )
    assert torch.isfinite(full.total) and full.audio_targets == 4 * 6 and full.text_targets == 3
    torch.testing.assert_close(deferred.total, full.total)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config, native_text_tokenizer) -> None:
    batch = _batch(tiny_config, native_text_tokenizer, ref=True)
    labels = batch.pop("label_audio_ids")
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = NativeHiggsForLoRA(tiny_config, use_text_head=True).train()
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        out = model(**batch)
        higgs_loss(out.logits, out.expanded_labels, out.audio_logits, labels).total.backward()
        gradients.append(model.model.layers[0].audio_mlp.up_proj.weight.grad)
    torch.testing.assert_close(gradients[0], gradients[1])
