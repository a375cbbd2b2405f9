"""The recipe schema: one typed model per TOML table, each field with its help and its bounds.

Validation depends only on the recipe itself, never on what is installed here: which backend runs it
and which hub revisions that backend reads are decided when a command runs (`adapter.setup`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, BASE_ID
from higgs_lora.core.texts import TRAINING_TEXTS

DEFAULT_SYSTEM_PROMPT = "Generate audio following instruction."  # boson's examples/generation.py
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Table):
    """`[model]`: what to fine-tune and how to hold it in memory."""

    base: str = BASE_ID
    """Hub id or local folder of the Higgs Audio v2 checkpoint; "tiny-random" builds a small random one.
    The official one's former id, bosonai/higgs-audio-v2-generation-3B-base, means the same checkpoint."""
    backend: Literal["auto", "boson", "native", "higgs3"] = "auto"
    """Which implementation runs it: "boson" (boson-multimodal, transformers 4.46), "native" (transformers
    >= 5.3's own Higgs v2), "higgs3" (Higgs TTS 3, transformers >= 5.3; docs/higgs3.md), or "auto": the one the checkpoint's config.json is written for, among those
    installed here (each needs its own environment; docs/backends.md)."""
    revision: str | None = None
    """Hub revision (commit, branch or tag) of `base`. Default: for the official id, the pinned
    boson-layout snapshot on the boson backend and `main` on the native one; `main` for any other hub
    id; ignored for a local folder."""
    audio_tokenizer: str = AUDIO_TOKENIZER_ID
    """Hub id or local folder of the audio tokenizer; "tiny-random" builds one matching the tiny model."""
    audio_tokenizer_revision: str | None = None
    """Hub revision of `audio_tokenizer`; the same defaults as `revision`."""
    semantic_teacher: str | None = None
    """Local folder (or hub id) of the HuBERT the audio tokenizer builds itself around. Default: what
    boson-multimodal fetches, `bosonai/hubert_base` from the hub's main with trust_remote_code."""
    quantization: Literal["nf4", "fp4", "none"] = "nf4"
    """4-bit storage of the frozen base (QLoRA); "none" keeps it in compute_dtype (plain LoRA)."""
    double_quant: bool = True
    """Also quantize the 4-bit scales (saves ~0.4 bit per weight)."""
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """"auto": bfloat16 on a CUDA GPU that supports it, else float32."""


class LoraConfig(_Table):
    """`[lora]`: the adapter's shape and where it attaches."""

    r: int = Field(16, ge=1, le=1024)
    """Rank of the low-rank update (typical: 8-64)."""
    alpha: float = Field(32.0, gt=0)
    """Scale numerator: the update is multiplied by alpha / r."""
    dropout: float = Field(0.05, ge=0, lt=1)
    targets: list[Literal["attention", "text_ffn", "audio_ffn", "heads", "mlp"]] = Field(
        default_factory=lambda: ["attention", "audio_ffn"], min_length=1
    )
    """Named groups of layers: attention, text_ffn, audio_ffn (the dual-FFN audio path), heads; on
    higgs3 (one FFN per layer): attention, mlp."""
    target_regex: str | None = None
    """An explicit regex over module names (full match); replaces `targets` when set."""

    @field_validator("target_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"not a valid regular expression ({err})") from None
        return value


class DataConfig(_Table):
    """`[data]`: where the clips are and which of them to keep."""

    path: str
    """Dataset folder or JSONL manifest, relative to the recipe file."""
    format: Literal["auto", "ljspeech", "jsonl", "folder", "hf"] = "auto"
    """auto: metadata.csv → ljspeech, *.jsonl → jsonl, else x.wav + x.txt pairs. hf: a Hugging Face
    `datasets` data set (hub id, save_to_disk folder, or parquet file/folder) in `path`."""
    split: str = Field("train", min_length=1)
    """format = "hf": the split to read."""
    audio_column: str = Field("audio", min_length=1)
    """format = "hf": the column holding audio (an Audio feature or {"array", "sampling_rate"})."""
    text_column: str = Field("text", min_length=1)
    """format = "hf": the column holding the transcript."""
    speaker_column: str | None = Field(None, min_length=1)
    """format = "hf": an optional column naming the speaker (for reference = "same_speaker")."""
    reference: Literal["none", "manifest", "same_speaker"] = "none"
    """Voice-cloning prompt: none; the manifest's ref_audio/ref_text; or another clip of the same speaker."""
    min_seconds: float = Field(0.5, ge=0)
    max_seconds: float = Field(20.0, gt=0)
    eval_fraction: float = Field(0.05, ge=0, le=0.5)
    """Share of clips held out for the eval loss (at least one clip when > 0 and there are 2+ clips)."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    cache_dir: str | None = None
    """Where encoded audio codes are kept; default: .higgs-lora-cache/ beside the dataset."""

    @model_validator(mode="after")
    def _hf_keys_need_hf(self) -> DataConfig:
        hf_keys = ("split", "audio_column", "text_column", "speaker_column")
        hf_only = [k for k in hf_keys if getattr(self, k) != DataConfig.model_fields[k].default]
        if hf_only and self.format != "hf":
            raise ValueError(
                f'{", ".join(hf_only)} only apply to Hugging Face data sets: set format = "hf" or remove them'
            )
        return self

    @model_validator(mode="after")
    def _durations_ordered(self) -> DataConfig:
        if self.min_seconds >= self.max_seconds:
            raise ValueError(
                f"min_seconds ({self.min_seconds}) must be below max_seconds ({self.max_seconds})"
            )
        return self


class TrainConfig(_Table):
    """`[train]`: the optimisation schedule."""

    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps; overrides epochs when set."""
    batch_size: int = Field(1, ge=1, le=256)
    grad_accumulation: int = Field(8, ge=1, le=1024)
    learning_rate: float = Field(2e-4, gt=0, le=1)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = Field(10, ge=0)
    optimizer: Literal["auto", "paged_adamw_8bit", "adamw_8bit", "adamw"] = "auto"
    """auto: paged 8-bit AdamW on CUDA, plain AdamW elsewhere."""
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    gradient_checkpointing: bool = True
    """Recompute decoder layers in backward: much less activation memory, ~30% more time."""
    bucket_by_length: bool = True
    """Batch clips of similar length together (less padding when batch_size > 1)."""
    loader_workers: Literal["auto"] | int = Field("auto", union_mode="left_to_right")
    """Data-loader worker processes; auto: 2 on CUDA, 0 on CPU."""
    text_loss_weight: float = Field(1.0, ge=0)
    """Weight of the text CE (control tokens) next to the audio CE."""
    seed: int = 42
    save_steps: int = Field(100, ge=1)
    eval_steps: int = Field(100, ge=1)
    log_steps: int = Field(10, ge=1)
    save_total_limit: int = Field(2, ge=1)
    """Checkpoints kept in adapters/<name>/checkpoints (older ones are deleted)."""

    @field_validator("loader_workers")
    @classmethod
    def _workers_in_range(cls, value: str | int) -> str | int:
        if value != "auto" and not 0 <= int(value) <= 32:
            raise ValueError('must be "auto" or a number of processes from 0 to 32')
        return value


class SamplesConfig(_Table):
    """`[samples]`: listen while training. Every `every_steps` steps the current adapter speaks `texts`;
    WAVs land in adapters/<name>/samples/step-N/ and in TensorBoard."""

    texts: list[str] = Field(default_factory=list)
    every_steps: int = Field(0, ge=0)
    """0 turns sampling off."""
    max_seconds: float = Field(10.0, gt=0, le=60)
    seed: int = 0
    temperature: float = Field(0.7, ge=0)
    ref_audio: str | None = None
    """Optional reference clip (relative to the recipe) to clone from, with `ref_text`."""
    ref_text: str | None = None

    @model_validator(mode="after")
    def _reference_complete(self) -> SamplesConfig:
        if (self.ref_audio is None) != (self.ref_text is None):
            raise ValueError("ref_audio and ref_text go together: set both or neither")
        if self.every_steps and not self.texts:
            raise ValueError("every_steps is set but texts is empty: add sentences to speak")
        return self


class EvalConfig(_Table):
    """`[eval]`: judge the voice while training and keep the best checkpoint. Every `every_steps` steps
    the current adapter speaks `texts`, which are transcribed and scored (WER, CER, speaker similarity,
    stopping) as `higgs-lora eval` does; whenever the `best` figure improves, the adapter is saved to
    adapters/<name>/best/. The adapter in adapters/<name>/ stays the last step's."""

    every_steps: int = Field(0, ge=0)
    """0 turns it off. Each round costs one generation per text plus transcription."""
    texts: list[str] = Field(default_factory=lambda: list(TRAINING_TEXTS), min_length=1)
    """Default: the twenty built-in eval sentences (fewer make the figures noisier than the changes
    between steps; each round prints its 95 % interval)."""
    best: Literal["similarity", "wer", "cer", "loss"] = "similarity"
    """What "best" means: highest speaker similarity, lowest WER or CER, or lowest eval loss (the
    latter judged at [train] eval_steps and needing [data] eval_fraction > 0)."""
    max_failures: float = Field(0.1, ge=0, le=1)
    """A step competes on `best` only when at most this share of its sentences failed (never stopped,
    silent, under half the expected length) ..."""
    max_wer: float = Field(0.2, ge=0)
    """... and its WER is at most this. Steps that pass beat those that do not; among those that do
    not, fewer failures, then lower WER, win. Not applied to best = "loss"."""
    max_seconds: float = Field(15.0, gt=0, le=60)
    seed: int = 0
    temperature: float = Field(0.7, ge=0)
    asr: str = "auto"
    """Whisper hub id or folder; auto: tiny-random for the tiny model, else the device's default
    (whisper-large-v3-turbo on CUDA, whisper-small on CPU)."""
    speaker_model: str = "auto"
    """auto: WavLM x-vectors (microsoft/wavlm-base-plus-sv) if downloaded, else resemblyzer (weights ship
    with the package); or wavlm (downloaded if need be), wavlm:PATH, resemblyzer."""
    language: str = "en"


class Recipe(_Table):
    """A whole training recipe; `source` is the file it came from (paths resolve against it)."""

    name: str = Field(pattern=NAME_PATTERN)
    """Adapter name: the output goes to <output_dir>/<name>/. Letters, digits, '.', '_', '-'."""
    output_dir: str = "adapters"
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    samples: SamplesConfig = Field(default_factory=SamplesConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _loss_needs_eval_split(self) -> Recipe:
        if self.eval.every_steps and self.eval.best == "loss" and self.data.eval_fraction <= 0:
            raise ValueError(
                '[eval] best = "loss" needs held-out clips: set [data] eval_fraction > 0, or choose '
                'best = "similarity", "wer" or "cer"'
            )
        return self

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the recipe are resolved against."""
        return self.source.parent if self.source is not None else Path.cwd()

    @property
    def data_path(self) -> Path:
        return (self.base_dir / self.data.path).resolve()

    @property
    def adapter_dir(self) -> Path:
        return Path(self.output_dir) / self.name
