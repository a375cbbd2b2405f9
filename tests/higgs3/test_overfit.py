"""LoRA on the 4-bit NF4 tiny Higgs TTS 3 model learns one clip, and greedy generation speaks its codes
back exactly and stops at codebook 0's EOC: plain and with a reference clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from higgs_lora.backends import get
from higgs_lora.backends.higgs3.collate import Higgs3Collator, Higgs3Sample, prompt_parts
from higgs_lora.higgs.loss import higgs_loss

pytestmark = [pytest.mark.backend("higgs3"), pytest.mark.slow]
bnb = pytest.importorskip("bitsandbytes")
STEPS = 80


def _load_4bit():
    from transformers import BitsAndBytesConfig

    backend = get("higgs3")
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.float32,
        llm_int8_skip_modules=backend.full_precision_modules,
    )
    return backend.load_base_model(str(backend.tiny_model_dir()), None, quantization_config=quantization)


@pytest.mark.parametrize("with_reference", [False, True], ids=["plain", "reference"])
def test_lora_overfits_one_clip_and_greedy_generation_speaks_it(
    with_reference: bool, tmp_path: Path, higgs3_text_tokenizer, higgs3_codec
) -> None:
    from peft import LoraConfig, get_peft_model

    backend = get("higgs3")
    model = _load_4bit()
    table = model.audio_table.embedding.weight.detach().clone()
    regex = "|".join(f"(?:{backend.target_patterns[g]})" for g in ("attention", "mlp"))
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=regex, task_type="CAUSAL_LM")
    adapted = get_peft_model(model, config)
    speaker = backend.speaker(adapted.get_base_model(), higgs3_text_tokenizer, higgs3_codec, "")

    clip = torch.randint(0, 1024, (4, 15), generator=torch.Generator().manual_seed(3))
    ref_audio, ref_text, ref_codes = None, None, None
    if with_reference:  # the reference enters as a file, encoded by the speaker exactly as at inference
        import soundfile

        ref_audio, ref_text = tmp_path / "ref.wav", "Ref words."
        noise = np.random.default_rng(0).standard_normal(3200).astype(np.float32) * 0.1  # 0.2 s
        soundfile.write(str(ref_audio), noise, 16000, subtype="PCM_16")
        ref_codes = speaker.reference_codes(ref_audio)
        assert ref_codes.shape == (4, 10)
    before, after = prompt_parts("Hello there.", ref_text, with_reference, higgs3_text_tokenizer)
    batch = Higgs3Collator(4, 151643)([Higgs3Sample(before, after, ref_codes, clip)])
    label_audio_ids = batch.pop("label_audio_ids")

    optimizer = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=5e-3)
    adapted.train()
    losses = []
    for _ in range(STEPS):
        out = adapted(**batch)
        loss = higgs_loss(out.logits, out.expanded_labels, out.audio_logits, label_audio_ids)
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
        losses.append(loss.total.item())
    # 15 frames → 18 delayed rows of 4; BOC fill (1 + 2 + 3) is no target, EOC fill (3 + 2 + 1) is.
    assert loss.audio_targets == 4 * 18 - 6 and loss.text_targets == 0
    assert losses[-1] < 0.01 * losses[0], losses[::10]

    speech = speaker("Hello there.", ref_audio=ref_audio, ref_text=ref_text, temperature=0.0, max_seconds=1.0)
    assert speech.stopped
    assert torch.equal(speech.codes, clip)
    assert speech.audio.shape == (15 * 320,) and speech.sample_rate == 16000
    assert adapted.training  # the speaker restores the mode it found
    assert torch.equal(model.audio_table.embedding.weight, table)  # frozen, and still the only copy
