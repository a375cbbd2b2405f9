"""Speech recognition with Whisper (transformers' ASR pipeline), with word timestamps.

Shared by `higgs-lora dataset` (transcribe cut clips) and anything else that needs text from audio.
`Transcriber("tiny-random")` builds a seeded, randomly initialised Whisper offline (see
`build_tiny_whisper`): it proves the plumbing in tests, its text is random letters.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from higgs_lora.core.errors import ModelError

SAMPLE_RATE = 16000
"""Whisper's input rate: pass audio at this rate."""
DEFAULT_GPU_MODEL = "openai/whisper-large-v3-turbo"
"""Best quality per second on a GPU (809M parameters, 4 decoder layers)."""
DEFAULT_CPU_MODEL = "openai/whisper-small"
"""On a CPU large-v3-turbo runs near real time; small (244M) is ~4x faster and still accurate."""
TINY = "tiny-random"
TINY_WHISPER_VERSION = "v1"
WHISPER_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...] = ()
    """Word timings in seconds from the start of the audio given; empty when the model has no
    alignment heads (then only `text` is known)."""


def default_asr_model(device: str) -> str:
    return DEFAULT_GPU_MODEL if device.startswith("cuda") else DEFAULT_CPU_MODEL


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Transcriber:
    """A Whisper ASR pipeline, loaded once; `transcribe` takes a batch of clips.

    `model`: a hub id, a local folder, "tiny-random", or None for the device's default
    (`DEFAULT_GPU_MODEL` on CUDA, `DEFAULT_CPU_MODEL` on CPU). `language`: an ISO code Whisper knows
    ("en", "de", ...) or None to let Whisper detect it per clip.
    """

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        language: str | None = None,
        batch_size: int = 8,
        max_new_tokens: int | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.model_name = model or default_asr_model(self.device)
        self.language = language
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.pipeline = _load_pipeline(self.model_name, self.device)
        generation = self.pipeline.model.generation_config
        self.word_timestamps = getattr(generation, "alignment_heads", None) is not None
        self.multilingual = bool(getattr(generation, "is_multilingual", False))
        if language is not None and self.multilingual:
            known = getattr(generation, "lang_to_id", {}) or {}
            if f"<|{language}|>" not in known:
                codes = sorted(token.strip("<|>") for token in known)
                raise ModelError(
                    f"--language {language!r}: {self.model_name} does not know this language. "
                    f"Use one of its codes: {', '.join(codes)}."
                )

    def transcribe(self, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[Transcript]:
        """One `Transcript` per clip (mono float32 at `sample_rate`; any length, long audio is
        transcribed in 30 s windows)."""
        if not clips:
            return []
        if sample_rate != SAMPLE_RATE:
            import librosa

            clips = [librosa.resample(c, orig_sr=sample_rate, target_sr=SAMPLE_RATE) for c in clips]
        inputs = [{"raw": np.asarray(c, dtype=np.float32), "sampling_rate": SAMPLE_RATE} for c in clips]
        generate: dict[str, Any] = {}
        if self.multilingual:
            generate["task"] = "transcribe"
            if self.language is not None:
                generate["language"] = self.language
        if self.max_new_tokens is not None:
            generate["max_new_tokens"] = self.max_new_tokens
        options: dict[str, Any] = {"batch_size": self.batch_size, "generate_kwargs": generate}
        if any(len(c) > WHISPER_WINDOW_SECONDS * SAMPLE_RATE for c in clips):
            options["chunk_length_s"] = WHISPER_WINDOW_SECONDS
        if self.word_timestamps:
            options["return_timestamps"] = "word"
        outputs = self.pipeline(inputs, **options)
        return [_transcript(output, len(c) / SAMPLE_RATE) for output, c in zip(outputs, clips, strict=True)]


# No spoken word lasts longer. Whisper's word timestamps can stretch a word over the silence after it,
# and `dataset build` never cuts inside a word: such a stretch would hide the pause a cut needs.
MAX_WORD_SECONDS = 2.0


def _transcript(output: dict[str, Any], seconds: float) -> Transcript:
    """Words in time order within the clip, none longer than MAX_WORD_SECONDS: Whisper can time a
    hallucinated word past the audio's end, before the word it follows, or across a pause (all seen
    with transformers 5's pipeline), and cuts are planned on these times."""
    words = []
    for chunk in output.get("chunks") or []:
        start, end = chunk.get("timestamp") or (None, None)
        text = str(chunk.get("text", "")).strip()
        if text and start is not None and float(start) <= seconds:
            start = float(start)
            end = min(float(end if end is not None else start), seconds, start + MAX_WORD_SECONDS)
            words.append(Word(text, start, max(end, start)))
    words.sort(key=lambda word: (word.start, word.end))
    return Transcript(" ".join(str(output.get("text", "")).split()), tuple(words))


def _load_pipeline(name: str, device: str) -> Any:
    import torch
    from transformers import pipeline

    path = str(build_tiny_whisper()) if name == TINY else name
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return pipeline(
            "automatic-speech-recognition",
            model=path,
            device=device,
            torch_dtype=dtype,
            model_kwargs={"attn_implementation": "eager"},  # word timestamps read cross-attentions
        )
    except OSError as err:
        raise ModelError(
            f"--asr-model {name!r}: cannot load it ({str(err).splitlines()[0]}). Give a Whisper hub id "
            f"(e.g. {DEFAULT_CPU_MODEL}) with network access or already in the Hugging Face cache, "
            "or a local folder holding a Whisper checkpoint."
        ) from None


# The tiny Whisper ------------------------------------------------------------------------------


def tiny_whisper_dir() -> Path:
    from higgs_lora.core.fileio import cache_home

    return cache_home() / f"tiny-whisper-{TINY_WHISPER_VERSION}"


def build_tiny_whisper(target: Path | None = None) -> Path:
    """A seeded random Whisper checkpoint (model, tokenizer, feature extractor) saved as a normal
    folder, built offline once and reused. It has real Whisper special tokens (languages, tasks,
    timestamps) over a byte-level text vocabulary and alignment heads, so word timestamps run the
    real code path. Output is random lower-case letters and spaces, never end-of-text: callers bound
    it with `max_new_tokens`."""
    target = target or tiny_whisper_dir()
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-whisper-", dir=target.parent))
    try:
        model, tokenizer, features = _tiny_whisper()
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        features.save_pretrained(staging)
        with contextlib.suppress(OSError):
            staging.rename(target)  # atomic; a concurrent builder may have won the race
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _tiny_whisper() -> tuple[Any, Any, Any]:
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    # Whisper's special tokens in Whisper's order, then the 1501 timestamp tokens (not special).
    special = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES)]
    special += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>"]
    special += ["<|notimestamps|>"]
    core.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in special])
    core.add_tokens([AddedToken(f"<|{i * 0.02:.2f}|>", special=False, normalized=False) for i in range(1501)])
    eot = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_object=core,
        unk_token=eot,
        bos_token=eot,
        eos_token=eot,
        pad_token=eot,
        additional_special_tokens=special[1:],
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in special}
    vocab = core.get_vocab_size()
    config = WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        pad_token_id=ids[eot],
        bos_token_id=ids[eot],
        eos_token_id=ids[eot],
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20240)
        model = WhisperForConditionalGeneration(config).eval()
    # Random logits would favour special and timestamp tokens; make letters and spaces win so the
    # output has words to time (the output projection is tied to these embeddings).
    letters = [core.token_to_id(c) for c in "abcdefghijklmnopqrstuvwxyz"] + [core.token_to_id("Ġ")] * 4
    with torch.no_grad():
        embeddings = model.get_decoder().embed_tokens.weight
        keep = embeddings[letters].clone() * 3
        embeddings.mul_(0.0)
        embeddings[letters] = keep
    # GenerationConfig built by hand (not from the model config: `_from_model_config` would make
    # generate() rebuild it and drop the Whisper fields below).
    model.generation_config = GenerationConfig(
        pad_token_id=ids[eot],
        bos_token_id=ids[eot],
        eos_token_id=ids[eot],
        decoder_start_token_id=ids["<|startoftranscript|>"],
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        is_multilingual=True,
        alignment_heads=[[1, 0], [1, 1]],
        max_initial_timestamp_index=50,
        begin_suppress_tokens=[ids[eot]],
        max_length=40,  # it never says end-of-text: keep its output short
    )
    return model, tokenizer, WhisperFeatureExtractor(feature_size=80)
