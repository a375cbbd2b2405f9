"""The contract every backend meets. Kit code calls only these; each backend package implements them.

Duck types the kit relies on, whatever the backend:
- audio tokenizer: `.encode(samples: np.ndarray, sample_rate) -> LongTensor [codebooks, frames]`,
  `.decode(codes: LongTensor [1, codebooks, frames]) -> np.ndarray [1, 1, samples]`, `.sampling_rate`,
  `.tps` (frames per second); `.to(device)` / `.eval()` like a module.
- training batch: a dict the shimmed model takes as `model(**batch)`, plus `label_audio_ids [C, N]`
  which the trainer pops for the loss. `model(**batch)` returns an object with `.logits` (text logits
  `[B, L, V]`, or the final hidden states while the text head defers, see `model.lean`),
  `.expanded_labels [B, L]` (text labels, unshifted, -100 where no target) and `.audio_logits
  [N, C, K]` for the N audio-out frames: exactly what `higgs_lora.loss.higgs_loss` takes.
- speaker: `Speaker(model, text_tokenizer, audio_tokenizer, system_prompt, kv_cache_lengths,
  capture_cuda_graphs)` whose call `(text, ref_audio, ref_text, seed, temperature, top_p, max_seconds)`
  returns a `higgs_lora.speak.Speech`; its `.sampling` (`higgs_lora.higgs.sampling.SAMPLING`) holds the
  rest of the sampling settings and the temperature and top-p a call leaves None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn


class Backend(ABC):
    name: ClassVar[str]
    """"boson" or "native": the value of `[model] backend`."""
    layout: ClassVar[str]
    """The checkpoint layout its model class reads (`higgs_lora.backends.layouts`)."""
    target_patterns: ClassVar[dict[str, str]]
    """`[lora] targets` group → full-match regex over this backend's module names."""
    module_name_example: ClassVar[str]
    """Two module names, for error messages ("'layers.0.self_attn.q_proj' or ...")."""
    full_precision_modules: ClassVar[list[str]]
    """Module names bitsandbytes leaves unquantized (`llm_int8_skip_modules`): both heads at least."""

    # -- model ---------------------------------------------------------------------------------------
    @abstractmethod
    def model_class(self) -> type:
        """The plain model class a merged checkpoint of this layout loads with."""

    @abstractmethod
    def load_base_model(self, source: str, revision: str | None, **kwargs: Any) -> nn.Module:
        """`from_pretrained` of the labels-absorbing subclass (PEFT's causal-LM wrapper passes `labels=`)."""

    @abstractmethod
    def meta_model(self, config: dict[str, Any]) -> nn.Module:
        """The model for a checkpoint's config.json on the meta device (no weights): for planning."""

    @abstractmethod
    def architecture(self, config: dict[str, Any]) -> Any:
        """A checkpoint config.json's architecture with boson's attribute names, defaults filled in
        (`text_config.hidden_size`, `audio_num_codebooks`, `audio_codebook_size` without BOS/EOS,
        `audio_dual_ffn_layers`, ...): what `plan` computes with, whatever the backend."""

    @abstractmethod
    def text_head(self, model: nn.Module) -> nn.Module:
        """The text LM head of an unwrapped model (the one `model.lean` defers)."""

    def random_text_head(self, model: nn.Module) -> bool:
        """Whether the text head was freshly initialised at load, the checkpoint holding no weights for it
        (then a text loss term would train against noise: `training.arguments.text_term`)."""
        return False

    @abstractmethod
    def codebooks(self, config: Any) -> tuple[int, int]:
        """(number of codebooks, codebook size without stream BOS/EOS) of a loaded model's config."""

    @abstractmethod
    def input_embeddings(self, model: nn.Module) -> nn.Module:
        """The text token embeddings (for layer checkpointing's input hook)."""

    @abstractmethod
    def decoder_layers(self, model: nn.Module) -> nn.ModuleList:
        """The transformer layers, for layer checkpointing."""

    # -- the built-in tiny model ---------------------------------------------------------------------
    @abstractmethod
    def tiny_model_dir(self) -> Path:
        """A folder holding the tiny random model + text tokenizer, in this backend's layout."""

    @abstractmethod
    def tiny_audio_tokenizer(self) -> Any:
        """The tiny random audio tokenizer, in this backend's codec class (its codes are its own)."""

    # -- tokenizers ----------------------------------------------------------------------------------
    @abstractmethod
    def load_audio_tokenizer(self, config: Any, device: torch.device | str) -> Any:
        """The recipe's audio tokenizer (a `ModelConfig`), on `device`."""

    @abstractmethod
    def audio_tokenizer_facts(self, config: dict[str, Any]) -> tuple[float, int]:
        """(frames per second, bytes of weights) for an audio tokenizer's config.json, without loading."""

    @abstractmethod
    def tiny_audio_tokenizer_facts(self) -> tuple[float, int]:
        """The same for the tiny audio tokenizer."""

    # -- data ----------------------------------------------------------------------------------------
    @abstractmethod
    def encode_example(self, example: Any, text_tokenizer: Any, system_prompt: str) -> Any:
        """One `data.samples.Example` → the sample the training collator takes."""

    @abstractmethod
    def example_length(self, example: Any, text_tokenizer: Any, system_prompt: str, codebooks: int) -> int:
        """The example's sequence length once collated, from cache headers (no codes loaded)."""

    @abstractmethod
    def training_collator(self, config: Any) -> Any:
        """A picklable callable: list of samples → batch dict incl. `label_audio_ids` (see above)."""

    @abstractmethod
    def probe_batch(self, config: Any, text_tokenizer: Any, device: Any) -> dict[str, Any]:
        """A fixed forward batch (reference + target audio, seeded codes) for the merge check."""

    # -- inference -----------------------------------------------------------------------------------
    @abstractmethod
    def speaker(
        self,
        model: nn.Module,
        text_tokenizer: Any,
        audio_tokenizer: Any,
        system_prompt: str,
        kv_cache_lengths: tuple[int, ...] = (1024, 4096),
        capture_cuda_graphs: bool = False,
    ) -> Any:
        """A Speaker (see above) around a loaded model (LoRA merged or injected)."""
