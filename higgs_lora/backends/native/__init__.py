"""The native backend: transformers' `HiggsAudioV2ForConditionalGeneration` (transformers >= 5.3).

Modules, one concern each: `prompt` (ChatML tokens as boson's `prepare_chatml_sample` gives them),
`collate` (samples → expanded batches with the delay pattern and labels), `model` (the LoRA-ready
subclass, loading, target patterns), `tiny` (seeded tiny model and codec), `codec` (the audio-tokenizer
duck type), `speaker` (generation), `backend` (the `Backend` contract).
"""

from higgs_lora.backends.native.backend import NativeBackend

BACKEND = NativeBackend()

__all__ = ["BACKEND", "NativeBackend"]
