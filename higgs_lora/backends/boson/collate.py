"""Batches for training (and the merge check's probe): boson-multimodal's collator with the real checkpoint's settings, made safe.

`HiggsAudioSampleCollator` writes `label_ids` in place (higgs_audio_collator.py ~L264-266), so a sample
collated twice would lose its audio labels: every batch works on copies. The batch keeps only what
`HiggsAudioModel.forward` needs plus `label_audio_ids` for the loss; `labels` is never passed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from boson_multimodal.data_collator.higgs_audio_collator import HiggsAudioSampleCollator
from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample

FORWARD_KEYS = (
    "input_ids",
    "attention_mask",
    "audio_in_ids",
    "audio_in_ids_start",
    "audio_out_ids",
    "audio_out_ids_start",
    "label_ids",
)


def higgs_collator(config, *, for_generation: bool = False) -> HiggsAudioSampleCollator:
    """boson-multimodal's collator with the model config's own token ids and delay pattern.

    Training pads to multiples of 8 and returns audio-in codes; generation (as the serve engine sets
    it up) pads to 1 and passes reference audio as audio-out only.
    """
    return HiggsAudioSampleCollator(
        whisper_processor=None,
        encode_whisper_embed=False,
        audio_in_token_id=config.audio_in_token_idx,
        audio_out_token_id=config.audio_out_token_idx,
        pad_token_id=config.pad_token_id,
        audio_stream_bos_id=config.audio_stream_bos_id,
        audio_stream_eos_id=config.audio_stream_eos_id,
        audio_num_codebooks=config.audio_num_codebooks,
        use_delay_pattern=config.use_delay_pattern,
        return_audio_in_tokens=not for_generation,
        round_to=1 if for_generation else 8,
    )


class TrainingCollator:
    """Callable turning a list of `ChatMLDatasetSample` into model inputs + `label_audio_ids`."""

    def __init__(self, config) -> None:  # config: HiggsAudioConfig
        self.inner = higgs_collator(config)

    def __call__(self, samples: list[ChatMLDatasetSample]) -> dict[str, torch.Tensor]:
        copies = [dataclasses.replace(s, label_ids=s.label_ids.clone()) for s in samples]
        batch = self.inner(copies)
        inputs = {key: getattr(batch, key) for key in FORWARD_KEYS}
        inputs["label_audio_ids"] = batch.label_audio_ids
        return inputs


def probe_batch(config: Any, text_tokenizer: Any, device: Any) -> dict[str, Any]:
    """A fixed batch through the training pipeline (reference + target audio, seeded random codes)."""
    from higgs_lora.backends.boson.samples import chatml_sample, tokenize_chatml

    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(
        0, config.audio_codebook_size, (config.audio_num_codebooks, 24), generator=generator
    )
    sample = chatml_sample(
        "A probe sentence for the merge check.", "Generate audio following instruction.", "Ref."
    )
    tokens, labels, _, _ = tokenize_chatml(sample, text_tokenizer)
    dataset_sample = ChatMLDatasetSample(
        input_ids=torch.tensor(tokens),
        label_ids=torch.tensor(labels),
        audio_ids_concat=codes,
        audio_ids_start=torch.tensor([0, 12]),
        audio_waveforms_concat=torch.zeros(0),
        audio_waveforms_start=torch.zeros(0, dtype=torch.long),
        audio_sample_rate=torch.zeros(0),
        audio_speaker_indices=torch.zeros(0, dtype=torch.long),
    )
    batch = TrainingCollator(config)([dataset_sample])
    batch.pop("label_audio_ids")
    return {key: value.to(device) for key, value in batch.items()}
