"""`evaluate_adapter`: speak a fixed set of sentences with an adapter (and the base, other adapters, its
checkpoints), transcribe and score them, aggregate, and write adapters/NAME/eval/.

Order of work, so that peak memory is one model at a time: load the base once with the adapter (and
any checkpoints) as named PEFT adapters → speak everything, switching adapters → free the TTS model →
transcribe → embed speakers → score → write eval.json, metrics.png, index.html and the WAVs.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from higgs_lora.adapter.files import adapter_base, adapter_config
from higgs_lora.adapter.setup import TrainedSetup, speech_setup
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.texts import BUILTIN_TEXTS, read_texts
from higgs_lora.evaluate import metrics
from higgs_lora.evaluate.protocol import PROTOCOL_ASR, prompt_speaking_rate, read_protocol
from higgs_lora.evaluate.report import EvalReport
from higgs_lora.evaluate.score import ADAPTER, BASE, Sample, Scorer, aggregate, speak_sample
from higgs_lora.evaluate.voice import TrainingVoice
from higgs_lora.higgs.sampling import SAMPLING


def evaluate_adapter(
    adapter: str | Path,
    *,
    texts: str | Path | list[str] | None = None,
    checkpoints: bool = False,
    against: str = BASE,
    max_seconds: float = 20.0,
    seed: int = 0,
    temperature: float = SAMPLING.temperature,
    asr: str = "auto",
    speaker_model: str = "auto",
    language: str = "en",
    data: str | Path | None = None,
    quantization: str = "auto",
    protocol: tuple[str, str | Path] | None = None,
    force: bool = False,
    progress: bool = True,
) -> EvalReport:
    """Evaluate `adapters/NAME` against the base (or `adapters/OTHER`), and each saved checkpoint with
    `checkpoints`; writes adapters/NAME/eval/ (replacing an earlier one only with `force`).

    `texts`: a file (one sentence per line) or a list replacing the 20 built-in sentences; the held-out
    split's transcripts are always added. `asr`: a Whisper id or folder, "tiny-random", or "auto" (the
    tiny one for a tiny-random adapter, else asr.default_asr_model). Generation is seeded per sentence.
    `quantization`: as `speak`'s, and resolved the same way (`auto`: the base as training loaded it,
    the adapter unmerged, as `[samples]`/`[eval]` heard it), so the figures describe what speak plays.
    `protocol`: ("seed-tts", meta.lst) scores a public test list instead (evaluate.protocol): each target
    cloned from its own prompt and compared with it; no training data needed; ASR Whisper-large-v3.
    """
    import torch

    from higgs_lora.adapter.fit import check_fits, load_trained
    from higgs_lora.backends import backend_for
    from higgs_lora.backends.speech import make_speaker
    from higgs_lora.core.hub import TINY
    from higgs_lora.model.load import load_tokenizers
    from higgs_lora.training.checkpoints import checkpoints as list_checkpoints

    folder = Path(adapter)
    # The base, revisions and audio tokenizer the adapter was trained with (its recipe.toml), read once,
    # loaded as speak loads it by default: the same model configuration (adapter.setup.speech_setup).
    setup = speech_setup(folder, quantization=quantization)
    out = folder / "eval"
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists from an earlier eval. Pass --force to replace it.")
    if max_seconds <= 0:
        raise HiggsLoraError(f"--max-seconds {max_seconds}: must be positive (e.g. 20).")
    recipe, facts = _adapter_recipe(setup)
    if protocol is not None:
        if texts is not None:
            raise HiggsLoraError("--protocol brings its own sentences: leave out --texts.")
        items = read_protocol(*protocol)
        voice = TrainingVoice((), prompt_speaking_rate(items))
        sentences = [(item.target_text, protocol[0], (item.prompt_wav, item.prompt_text)) for item in items]
    else:
        voice = _voice(recipe, facts, data)
        sentences = _sentences(texts, facts)
    model_config = setup.model
    base = adapter_base(folder)
    others = _other_adapter(against, base)
    found = [(step, path) for step, path, done in list_checkpoints(folder / "checkpoints") if done]
    if checkpoints and not found:
        raise HiggsLoraError(f"--checkpoints: no complete checkpoint in {folder / 'checkpoints'}.")
    extra = ([others] if others is not None else []) + ([path for _, path in found] if checkpoints else [])
    for path in extra:
        check_fits(path, setup)  # config and shapes only: refuse before the model is loaded
    device = setup.runtime.device.type

    # 1. Speak: one base in memory, each system a named adapter on it (or none, for the base).
    clock = [time.perf_counter()]
    timing: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        timing[name] = round(clock[-1] - clock[-2], 2)

    model = load_trained(setup, setup.runtime)
    # (system, step, the PEFT adapter it speaks with; None: the base without any adapter)
    systems: list[tuple[str, int | None, str | None]] = [(ADAPTER, facts.get("steps"), "default")]
    if others is not None:
        model.load_adapter(str(others), adapter_name="against")
        reserved = others.name in (ADAPTER, BASE) or others.name.startswith("step-")
        systems.append((f"other-{others.name}" if reserved else others.name, None, "against"))
    else:
        systems.append((BASE, None, None))
    if checkpoints:
        for step, path in found:
            model.load_adapter(str(path), adapter_name=f"step-{step}")
            systems.append((f"step-{step}", step, f"step-{step}"))
    speaker = make_speaker(
        model.get_base_model(),
        *load_tokenizers(model_config, device),
        system_prompt=setup.system_prompt,
    )
    lap("load_seconds")
    staging = Path(tempfile.mkdtemp(prefix=".eval-staging-", dir=folder))
    try:
        samples: list[Sample] = []
        audio: list[np.ndarray] = []
        rate = int(speaker.audio_tokenizer.sampling_rate)
        bar = tqdm(total=len(systems) * len(sentences), desc="speak", unit="sentence", disable=not progress)
        for system, _, name in systems:
            with _active(model, name):
                for index, (text, source, prompt) in enumerate(sentences):
                    sample, speech = speak_sample(
                        speaker, system, index, text, source, voice, seed, temperature, max_seconds, prompt
                    )
                    speech.save(staging / sample.wav, force=True)
                    samples.append(sample)
                    audio.append(speech.audio)
                    bar.update()
                    if index == EARLY_SENTENCES - 1 and not any(
                        s.stopped for s in samples[-EARLY_SENTENCES:]
                    ):
                        tqdm.write(cannot_stop(system, max_seconds))
        bar.close()
        lap("speak_seconds")
        del speaker, model  # the TTS model leaves memory before Whisper and the speaker encoder load
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()

        # 2. Score, then aggregate per system.
        asr_name = TINY if asr == "auto" and base == TINY else (None if asr == "auto" else asr)
        if protocol is not None and asr == "auto" and base != TINY:
            asr_name = PROTOCOL_ASR
        scorer = Scorer(voice, asr_name, speaker_model, language, device)
        scorer.score(samples, audio, rate, progress)
        lap("score_seconds")
        figures = [
            aggregate(system, [s for s in samples if s.system == system], step, language)
            for system, step, _ in systems
        ]
        report = EvalReport(
            folder,
            out,
            figures,
            samples,
            settings={
                "texts": len(sentences),
                "held_out_texts": sum(source == "held-out" for _, source, _ in sentences),
                "protocol": {"name": protocol[0], "list": str(protocol[1])} if protocol else None,
                "against": systems[1][0],
                "seed": seed,
                "temperature": temperature,
                "max_seconds": max_seconds,
                "asr": scorer.asr_name,
                "language": language,
                "normaliser": metrics.normaliser_name(language),
                "speaker_model": scorer.speaker_name,
                "voice_clips": [str(path) for path in voice.clips],
                "chars_per_second": round(voice.chars_per_second, 3),
                "reference": str(voice.ref_audio) if voice.ref_audio else None,
                "device": device,
                "backend": backend_for(model_config).name,
                "timing": timing,
            },
        )
        _write(report, staging)
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


EARLY_SENTENCES = 3
"""After this many sentences of a system that all ran to their limit, eval says so at once."""


def cannot_stop(system: str, max_seconds: float) -> str:
    return (
        f"eval: {system}: the first {EARLY_SENTENCES} sentences all ran to their limit without stopping. "
        "This system may not end its speech (an adapter trained too little, or on clips whose end "
        "was cut); each sentence is given up at twice its expected length plus 1 s "
        f"(at most --max-seconds {max_seconds:g}), so the rest will fail the same way quickly."
    )


def _adapter_recipe(setup: TrainedSetup) -> tuple[Any, dict[str, Any]]:
    """The recipe saved beside the adapter, and its metrics.json (steps, data path, held-out texts)."""
    from higgs_lora.core.recipe import validate_recipe

    folder = setup.adapter
    if not setup.recorded:
        raise HiggsLoraError(
            f"{folder}: no recipe.toml beside the adapter; eval needs the recipe it was trained with."
        )
    recipe = validate_recipe(setup.recorded, folder / "recipe.toml")
    metrics_file = folder / "metrics.json"
    facts = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    return recipe, facts


def _voice(recipe: Any, facts: dict[str, Any], data: str | Path | None) -> TrainingVoice:
    from higgs_lora.evaluate.voice import training_voice

    path = Path(data) if data is not None else (Path(facts["data_path"]) if facts.get("data_path") else None)
    if path is None:
        raise HiggsLoraError(
            "this adapter's metrics.json does not say where its training data is: pass --data PATH (the "
            "recipe's [data] path) so similarity can be measured against the training voice."
        )
    if not path.exists():
        raise HiggsLoraError(f"training data {path} not found (moved?). Pass --data PATH to where it is now.")
    return training_voice(recipe, path)


def _sentences(
    texts: str | Path | list[str] | None, facts: dict[str, Any]
) -> list[tuple[str, str, tuple[Path, str] | None]]:
    if texts is None:
        chosen = [(text, "builtin") for text in BUILTIN_TEXTS]
    elif isinstance(texts, list):
        chosen = [(text, "file") for text in texts]
    else:
        chosen = [(text, "file") for text in read_texts(texts)]
    chosen += [(text, "held-out") for text in facts.get("eval_texts", [])]
    for text, source in chosen:
        if not metrics.normalise(text):
            raise HiggsLoraError(f"{source} text {text!r}: no words left after normalisation; remove it.")
    return [(text, source, None) for text, source in chosen]


def _other_adapter(against: str, base: str) -> Path | None:
    if against == BASE:
        return None
    other = Path(against)
    if not (other / "adapter_config.json").is_file():
        raise HiggsLoraError(
            f"--against {other}: no adapter_config.json there. Give base, or an adapter folder (adapters/OTHER)."
        )
    adapter_config(other)
    if adapter_base(other) != base:
        raise HiggsLoraError(
            f"--against {other}: trained on base {adapter_base(other)!r}, this adapter on {base!r}; "
            "compare adapters of the same base."
        )
    return other


class _active:
    """Context in which a system speaks: PEFT adapter `name` active, or (None) no adapter: the base."""

    def __init__(self, model: Any, name: str | None) -> None:
        self.model, self.name = model, name
        self._disabled: Any = None

    def __enter__(self) -> None:
        if self.name is None:
            self._disabled = self.model.disable_adapter()
            self._disabled.__enter__()
        else:
            self.model.set_adapter(self.name)

    def __exit__(self, *exc: object) -> None:
        if self._disabled is not None:
            self._disabled.__exit__(*exc)


def _write(report: EvalReport, staging: Path) -> None:
    from higgs_lora.core.fileio import write_text_atomic
    from higgs_lora.evaluate.page import plot_figures, write_page

    write_text_atomic(staging / "eval.json", json.dumps(report.to_json(), indent=2) + "\n")
    plot_figures(report, staging / "metrics.png")
    write_page(report, staging / "index.html")


def _replace(staging: Path, out: Path) -> None:
    """Swap the finished staging folder in for `out` (renames only: a crash leaves one or the other)."""
    old = None
    if out.exists():
        old = out.with_name(f".eval-old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
