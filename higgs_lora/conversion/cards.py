"""The README of a merged checkpoint, by the layout it is written in: how that layout's own loader opens
it. Text only, so either environment writes either card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from higgs_lora.core.hub import renamed_note
from higgs_lora.core.licenses import card_license, card_section


def merged_card(layout: str, result: Any, adapter_dir: Path) -> str:
    """README.md of a merged checkpoint (a `verbs.merge.MergeResult`) in `layout`."""
    if layout == "higgs3":
        return _higgs3_card(result.out, result.dtype) + _precision_note(result) + card_section("higgs3")
    card = _boson_card(result, adapter_dir) if layout == "boson" else _native_card(result.out, result.dtype)
    return card + _precision_note(result)


def _precision_note(result: Any) -> str:
    """What the merge check measured, and the one way to lose it again: loading in a coarser dtype."""
    note = (
        f"\nMerge check on a probe batch: these {result.dtype} weights keep {result.kept:.1%} of the adapter's "
        f"effect on the audio logits ({result.kept_text:.1%} on the text logits).\n"
    )
    if result.dtype != "bf16":
        note += (
            f'Load them as {result.dtype} (`torch_dtype="auto"`); loading them in bf16 rounds most of a '
            "trained adapter away again (a real run's weight changes are about one bf16 step).\n"
        )
    return note


def _boson_card(result: Any, adapter_dir: Path) -> str:
    """README.md of a merged checkpoint in the boson layout (a `merge.MergeResult`): how boson-multimodal's
    own loader and serve engine open it. Text only: it is written from either environment."""
    tokenizer = f'"{result.audio_tokenizer}"'
    if result.audio_tokenizer_revision:  # boson's loader fetches `main`: hand it the pinned snapshot
        tokenizer = f'snapshot_download({tokenizer}, revision="{result.audio_tokenizer_revision}")'
    return f"""# Merged Higgs Audio v2 checkpoint

Base `{result.base}`{renamed_note(result.base)} (revision `{result.base_revision or "local"}`) with the LoRA adapter
`{adapter_dir.name}` folded into its weights ({result.dtype}), by higgs-lora. Loads like the original:

```python
from boson_multimodal.model.higgs_audio import HiggsAudioModel
from boson_multimodal.serve.serve_engine import HiggsAudioServeEngine
from huggingface_hub import snapshot_download

model = HiggsAudioModel.from_pretrained("{result.out}", torch_dtype="auto")
engine = HiggsAudioServeEngine("{result.out}", {tokenizer}, torch_dtype="auto")
```

Audio tokenizer: `{result.audio_tokenizer}` at revision `{result.audio_tokenizer_revision or "local"}` (not
copied; its `main` is in a layout boson-multimodal cannot read, so load exactly that revision).
"""


def _native_card(out: str | Path, dtype: str) -> str:
    """The README of a merged checkpoint written in the native layout."""
    return f"""# Merged Higgs Audio v2 checkpoint (transformers-native layout)

A LoRA adapter folded into its base ({dtype}) by higgs-lora, checked on a probe batch in the boson layout,
then written with the key names and config of transformers >= 5.3:

```python
from transformers import HiggsAudioV2ForConditionalGeneration

model = HiggsAudioV2ForConditionalGeneration.from_pretrained("{out}", use_text_head=True, dtype="auto")
```

boson-multimodal cannot read this folder; `higgs-lora merge --layout boson` writes one it can.
"""


def _higgs3_card(out: str | Path, dtype: str) -> str:
    """The README of a merged Higgs TTS 3 checkpoint (the base's weight names and config)."""
    return f"""---
{card_license("higgs3")}tags: [higgs-tts-3, text-to-speech, higgs-lora]
---

# Merged Higgs TTS 3 checkpoint

A LoRA adapter folded into its base ({dtype}) by higgs-lora, with the base's weight names
(`tied.embedding.*`, `body.*`) and config (`higgs_multimodal_qwen3`); the audio table stays tied. transformers
has no class for it; the kit's loads it:

```python
from higgs_lora.backends.higgs3.model import HiggsMultimodalQwen3ForConditionalGeneration

model = HiggsMultimodalQwen3ForConditionalGeneration.from_pretrained("{out}", dtype="auto")
```

The base checkpoint's bundled codec (`tied.embedding.modality_embeddings.0.model.*`) is copied unchanged, so
servers that read the codec from the TTS checkpoint (sglang-omni) load this folder like the base.
"""
