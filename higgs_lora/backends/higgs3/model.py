"""Higgs TTS 3 as a transformers model: a Qwen3 body and one fused audio table, tied by construction.

Weight names are the real checkpoint's (`bosonai/higgs-tts-3-4b`), as both upstream loaders map them
(sglang-omni `sglang_omni/models/higgs_tts/model.py` `_BACKBONE_PREFIX_MAP` + `weight_loader.py`;
vllm-omni `higgs_audio_v3/higgs_audio_v3_talker.py`):
- `tied.embedding.text_embedding.weight`: the Qwen3 token embeddings [151936, 2560];
- `body.layers.{i}.*`, `body.norm.weight`: the Qwen3 decoder (transformers' `Qwen3Model` without its
  own `embed_tokens`, so the names match and nothing is held twice);
- `tied.embedding.modality_embeddings.0.embedding.weight`: the fused audio table [C·K, H], C = 8
  codebooks of K = 1026 rows (1024 codes, BOC, EOC); codebook c's code x is row c·K + x;
- `tied.embedding.modality_embeddings.0.model.*`: the bundled codec, not part of this network (the
  codec loads on its own): ignored here.
- `tied.head.modality_heads.0.weight` and `tied.head.text_head.weight`: the heads' copies, dropped
  when tied (upstream: "when True the modality_head shares the embedding weight and the ckpt's head
  copy is dropped").

The audio head *is* the table: logits are `hidden @ table.T` reshaped to [.., C, K], and a frame's input
embedding is the sum of its C rows. There is one parameter, so no save, load, quantization or
`modules_to_save` can untie the two (HIGGS_NOTES §15: a community trainer's copies drifted apart).

`forward` takes the kit's batch (`collate.Higgs3Collator`) and returns what `higgs_lora.loss.higgs_loss`
takes; it drops `labels` (PEFT's causal-LM wrapper passes `labels=`), so no separate shim is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen3Model
from transformers.utils import ModelOutput

from higgs_lora.backends.higgs3.config import Higgs3Config
from higgs_lora.core.errors import ModelError

CODEC_PREFIX = "tied.embedding.modality_embeddings.0.model."
"""The bundled codec's weights in the checkpoint; sglang-omni's `audio_codec.py` loads the codec from them,
so a checkpoint written from this model must carry them on (`bundled_from`)."""


class FusedAudioTable(nn.Module):
    """The [C·K, H] table: frame embeddings in (sum over codebooks), per-codebook logits out."""

    def __init__(self, num_codebooks: int, codebook_size: int, hidden_size: int) -> None:
        super().__init__()
        self.num_codebooks = num_codebooks
        self.codebook_size = codebook_size
        self.embedding = nn.Embedding(num_codebooks * codebook_size, hidden_size)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[..., C]` (BOC/EOC included) → `[..., H]`, the sum of the frame's C rows."""
        offsets = torch.arange(self.num_codebooks, device=codes.device) * self.codebook_size
        return self.embedding(codes.long() + offsets).sum(-2)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states `[..., H]` → `[..., C, K]` through the same weight."""
        weight = self.embedding.weight
        out = F.linear(hidden.to(weight.dtype), weight)
        return out.view(*hidden.shape[:-1], self.num_codebooks, self.codebook_size)


class TiedTextHead(nn.Module):
    """The text head when the text config ties it: the token embeddings, read through (no own weight).

    The reference to the embedding is held outside `nn.Module`'s registry, so the state dict has
    one key for the weight, as the checkpoint after upstream's mapping."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        object.__setattr__(self, "_embedding", embedding)

    @property
    def weight(self) -> torch.Tensor:
        return self._embedding.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.weight)


class _Embeddings(nn.Module):
    def __init__(self, config: Higgs3Config) -> None:
        super().__init__()
        text = config.text_config
        self.text_embedding = nn.Embedding(text.vocab_size, text.hidden_size, text.pad_token_id)
        out_dim = int(config.audio_encoder_config.get("out_dim", text.hidden_size))
        table = FusedAudioTable(config.num_codebooks, config.codebook_size, out_dim)
        self.modality_embeddings = nn.ModuleList([table])


class _Heads(nn.Module):
    def __init__(self, config: Higgs3Config, embeddings: _Embeddings) -> None:
        super().__init__()
        text = config.text_config
        if text.tie_word_embeddings:
            self.text_head: nn.Module = TiedTextHead(embeddings.text_embedding)
        else:
            self.text_head = nn.Linear(text.hidden_size, text.vocab_size, bias=False)


class _Tied(nn.Module):
    def __init__(self, config: Higgs3Config) -> None:
        super().__init__()
        self.embedding = _Embeddings(config)
        self.head = _Heads(config, self.embedding)


@dataclass
class Higgs3Output(ModelOutput):
    logits: torch.Tensor | None = None
    """Text logits `[B, L, V]`, or the final hidden states while `model.lean` defers the head."""
    expanded_labels: torch.Tensor | None = None
    """Text labels `[B, L]`, unshifted, -100 where no target (TTS has none)."""
    audio_logits: torch.Tensor | None = None
    """`[N, C, K]` for the N audio-out positions of the batch, row-major."""
    hidden_states: torch.Tensor | None = None
    """The final hidden states `[B, L, H]` (generation reads the last one)."""
    cache: Any = None
    """The KV cache after this call (generation)."""


class HiggsMultimodalQwen3ForConditionalGeneration(PreTrainedModel, GenerationMixin):
    """Higgs TTS 3 over transformers' Qwen3. Generation is `speaker.Higgs3Speaker` (the delay pattern's
    state machine), not `generate()`; GenerationMixin is there because PEFT's causal-LM wrapper reads
    `prepare_inputs_for_generation`."""

    config_class = Higgs3Config
    base_model_prefix = ""
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar[list[str]] = ["Qwen3DecoderLayer"]
    _supports_sdpa = True
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [
        r"^tied\.embedding\.modality_embeddings\.0\.model\.",  # the bundled codec
        r"^tied\.head\.modality_heads\.",  # the audio head's copy of the table (tied)
        r"^tied\.head\.text_head\.",  # the text head's copy of the embeddings, when tied
    ]

    def __init__(self, config: Higgs3Config) -> None:
        super().__init__(config)
        if not config.audio_encoder_config.get("tie_word_embeddings", True):
            raise ModelError(
                "audio_encoder_config.tie_word_embeddings = false: an untied audio head is not what "
                "Higgs TTS 3 ships, and this backend implements only the tied table."
            )
        if config.audio_encoder_config.get("encoder_type", "discrete") != "discrete":
            raise ModelError("only the discrete (TTS) audio encoder of higgs_multimodal_qwen3 is supported.")
        self.tied = _Tied(config)
        self.body = Qwen3Model(config.text_config)
        self.body.embed_tokens = None  # the token embeddings are `tied.embedding.text_embedding`
        self.bundled_from: list[str] = []
        """Safetensors files of the checkpoint this model was loaded from: their bundled codec tensors
        (not part of this network) are written again by `save_pretrained` (`load.load_base_model`)."""
        self.post_init()

    # -- parts -----------------------------------------------------------------------------------------
    @property
    def audio_table(self) -> FusedAudioTable:
        return self.tied.embedding.modality_embeddings[0]

    @property
    def text_head(self) -> nn.Module:
        return self.tied.head.text_head

    def get_input_embeddings(self) -> nn.Embedding:
        return self.tied.embedding.text_embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.tied.embedding.text_embedding = value

    def get_output_embeddings(self) -> None:
        return None  # no transformers-managed tie: ours are structural

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config.text_config, "initializer_range", 0.02)
        if isinstance(module, nn.Embedding | nn.Linear):
            with torch.no_grad():
                module.weight.normal_(0.0, std)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    module.bias.zero_()
        elif hasattr(module, "weight") and module.__class__.__name__.endswith("RMSNorm"):
            with torch.no_grad():
                module.weight.fill_(1.0)

    def save_pretrained(self, save_directory: Any, *args: Any, state_dict: Any = None, **kwargs: Any) -> Any:
        """transformers' save, plus the source checkpoint's bundled codec tensors (unchanged), so a merged
        checkpoint still serves where the codec is read from the TTS checkpoint (sglang-omni)."""
        bundled = bundled_codec(self.bundled_from)
        if bundled:
            state_dict = {**(state_dict if state_dict is not None else self.state_dict()), **bundled}
        return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)

    # -- forward ---------------------------------------------------------------------------------------
    def embed(
        self, input_ids: torch.Tensor, audio_ids: torch.Tensor | None, audio_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Token embeddings, with each audio row (`audio_mask`) the sum of its codes' table rows."""
        embeds = self.get_input_embeddings()(input_ids.clamp(min=0))
        if audio_ids is None or audio_mask is None or not bool(audio_mask.any()):
            return embeds
        audio = self.audio_table.embed(audio_ids).to(embeds.dtype)
        return torch.where(audio_mask.unsqueeze(-1).to(embeds.device), audio, embeds)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        audio_ids: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        audio_out_mask: torch.Tensor | None = None,
        label_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        cache: Any = None,
        use_cache: bool = False,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Higgs3Output:
        """The kit's batch → text logits (or hidden states, see `model.lean`), labels, and audio logits
        for the `audio_out_mask` positions (all positions when it is None: plain calls). `labels` is
        dropped: PEFT passes it; the kit's loss reads `label_audio_ids` instead."""
        for key in ("return_dict", "output_attentions", "output_hidden_states", "past_key_values"):
            kwargs.pop(key, None)
        if inputs_embeds is None:
            if input_ids is None:
                raise ModelError(
                    "HiggsMultimodalQwen3ForConditionalGeneration.forward needs input_ids or inputs_embeds"
                )
            inputs_embeds = self.embed(input_ids, audio_ids, audio_mask)
        out = self.body(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            **kwargs,
        )
        hidden = out.last_hidden_state
        chosen = hidden if audio_out_mask is None else hidden[audio_out_mask.to(hidden.device)]
        return Higgs3Output(
            logits=self.text_head(hidden),
            expanded_labels=label_ids,
            audio_logits=self.audio_table.logits(chosen),
            hidden_states=hidden,
            cache=getattr(
                out, "cache", None
            ),  # transformers 5 names it `cache` (past_key_values: deprecated)
        )

    @torch.no_grad()
    def audio_step(
        self, inputs_embeds: torch.Tensor, position_ids: torch.Tensor, cache: Any
    ) -> tuple[torch.Tensor, Any]:
        """Generation: run `inputs_embeds [1, L, H]` on top of `cache`; the last position's audio
        logits `[1, C, K]` (float32) and the cache. No text head: TTS never samples text."""
        from transformers import DynamicCache

        cache = cache if cache is not None else DynamicCache(config=self.config.text_config)
        out = self.body(inputs_embeds=inputs_embeds, position_ids=position_ids, cache=cache, use_cache=True)
        return self.audio_table.logits(out.last_hidden_state[:, -1]).float(), cache


def bundled_codec(files: list[str]) -> dict[str, torch.Tensor]:
    """The codec tensors (`CODEC_PREFIX`) held in these safetensors files."""
    from safetensors import safe_open

    tensors: dict[str, torch.Tensor] = {}
    for file in files:
        with safe_open(file, "pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if key.startswith(CODEC_PREFIX):
                    tensors[key] = handle.get_tensor(key)
    return tensors
