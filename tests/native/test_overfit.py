"""LoRA on the 4-bit NF4 tiny native model learns one clip and speaks it back, stopping at the stream EOS.

bitsandbytes >= 0.49 runs NF4 forward and backward on CPU; transformers 5 loads 4-bit there unpatched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from higgs_lora.backends import get
from higgs_lora.backends.native.collate import NativeCollator, NativeSample
from higgs_lora.higgs.chatml import chatml_tokens
from higgs_lora.higgs.loss import higgs_loss
from tests.native.conftest import SYSTEM_PROMPT

bnb = pytest.importorskip("bitsandbytes")
STEPS = 100


def _load_4bit():
    from transformers import BitsAndBytesConfig

    backend = get("native")
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.float32,
        llm_int8_skip_modules=backend.full_precision_modules,
    )
    return backend.load_base_model(str(backend.tiny_model_dir()), None, quantization_config=quantization)


def test_heads_stay_full_precision_under_4bit() -> None:
    model = _load_4bit()
    assert type(model.audio_lm_head) is torch.nn.Linear and type(model.text_lm_head) is torch.nn.Linear
    assert model.audio_lm_head.weight.dtype == torch.float32
    assert type(model.model.embed_audio_tokens.embed_audio_tokens) is torch.nn.Embedding
    layer = model.model.layers[0]
    assert isinstance(layer.self_attn.q_proj, bnb.nn.Linear4bit)
    assert isinstance(layer.audio_mlp.down_proj, bnb.nn.Linear4bit)


@pytest.mark.parametrize("with_reference", [False, True], ids=["plain", "reference"])
def test_lora_overfits_one_clip_and_greedy_generation_speaks_it(
    with_reference: bool, tmp_path: Path, native_text_tokenizer, native_codec
) -> None:
    from peft import LoraConfig, get_peft_model

    backend = get("native")
    model = _load_4bit()
    regex = "|".join(f"(?:{pattern})" for pattern in backend.target_patterns.values())
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=regex, task_type="CAUSAL_LM")
    adapted = get_peft_model(model, config)
    speaker = backend.speaker(adapted.get_base_model(), native_text_tokenizer, native_codec, SYSTEM_PROMPT)

    generator = torch.Generator().manual_seed(3)
    clip = torch.randint(0, 1024, (4, 15), generator=generator)
    ref_audio, ref_text, audio = None, None, [clip]
    if with_reference:  # the reference enters as a file, encoded by the speaker exactly as at inference
        import soundfile

        ref_audio, ref_text = tmp_path / "ref.wav", "Ref words."
        noise = np.random.default_rng(0).standard_normal(3200).astype(np.float32) * 0.1  # 0.2 s
        soundfile.write(str(ref_audio), noise, 16000, subtype="PCM_16")
        audio = [speaker.reference_codes(ref_audio), clip]
        assert audio[0].shape == (4, 10)
    tokens, labels, _ = chatml_tokens("Hello there.", SYSTEM_PROMPT, ref_text, native_text_tokenizer)
    batch = NativeCollator(model.config)([NativeSample(torch.tensor(tokens), torch.tensor(labels), audio)])
    label_audio_ids = batch.pop("label_audio_ids")

    optimizer = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=5e-3)
    adapted.train()
    losses = []
    # As HiggsTrainer trains (model.lean): the LoRA-wrapped text head passes hidden states through and
    # the loss applies it to the labelled rows only; [L, 128256] logits per step would dominate the time.
    head = backend.text_head(adapted)
    original = head.forward
    head.forward = lambda hidden, *args, **kwargs: hidden
    try:
        for _ in range(STEPS):
            out = adapted(**batch)
            loss = higgs_loss(
                out.logits, out.expanded_labels, out.audio_logits, label_audio_ids, text_head=original
            )
            optimizer.zero_grad()
            loss.total.backward()
            optimizer.step()
            losses.append(loss.total.item())
    finally:
        head.forward = original
    assert loss.audio_targets == 4 * 16 and loss.text_targets == 3
    assert losses[-1] < 0.01 * losses[0], losses[::10]

    speech = speaker("Hello there.", ref_audio=ref_audio, ref_text=ref_text, temperature=0.0, max_seconds=1.0)
    assert speech.stopped
    assert torch.equal(speech.codes, clip)
    assert speech.audio.shape == (15 * 320,) and speech.sample_rate == 16000
    assert adapted.training  # the speaker restores the mode it found
