"""The kit's layer checkpointing (`model.checkpointing`) on Higgs TTS 3's body: the same loss and LoRA
gradients with and without it (the recipes turn it on)."""

from __future__ import annotations

import pytest
import torch

from higgs_lora.backends import get
from higgs_lora.backends.higgs3.collate import Higgs3Collator, Higgs3Sample, prompt_parts
from higgs_lora.backends.higgs3.tiny import build_tiny_model
from higgs_lora.higgs.loss import higgs_loss
from higgs_lora.model.checkpointing import enable_layer_checkpointing

pytestmark = pytest.mark.backend("higgs3")


def _loss_and_grads(checkpointed: bool, higgs3_text_tokenizer) -> tuple[float, list[torch.Tensor]]:
    from peft import LoraConfig, get_peft_model

    patterns = get("higgs3").target_patterns
    base = build_tiny_model().train()
    base.requires_grad_(False)
    if checkpointed:
        assert enable_layer_checkpointing(base) == 2
    torch.manual_seed(0)
    regex = f"(?:{patterns['attention']})|(?:{patterns['mlp']})"
    model = get_peft_model(
        base, LoraConfig(r=4, target_modules=regex, init_lora_weights=False, task_type="CAUSAL_LM")
    )
    generator = torch.Generator().manual_seed(1)
    ref, target = (torch.randint(0, 1024, (4, n), generator=generator) for n in (5, 7))
    before, after = prompt_parts("Hi.", "Ref.", True, higgs3_text_tokenizer)
    batch = Higgs3Collator(4, 151643)([Higgs3Sample(before, after, ref, target)])
    labels = batch.pop("label_audio_ids")
    out = model(**batch)
    loss = higgs_loss(out.logits, out.expanded_labels, out.audio_logits, labels).total
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]


def test_checkpointing_gives_the_same_loss_and_gradients(higgs3_text_tokenizer) -> None:
    plain_loss, plain_grads = _loss_and_grads(False, higgs3_text_tokenizer)
    loss, grads = _loss_and_grads(True, higgs3_text_tokenizer)
    assert loss == pytest.approx(plain_loss, rel=1e-6)
    assert len(grads) == len(plain_grads) == 2 * 7 * 2
    for got, expected in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)
