"""The `[eval]` table during training: score the voice every N steps and keep the best adapter.

"The more I train, the worse it sounds": loss keeps falling while the voice drifts. Every
`every_steps` steps (main process only) the live adapter speaks `[eval] texts`; the figures go to
TensorBoard and metrics.json (`quality_history`), and whenever the chosen `best` figure improves the
adapter weights are written to adapters/<name>/best/ (atomically, with recipe.toml and best.json, so
`higgs-lora speak --adapter adapters/<name>/best` works). The adapter in adapters/<name>/ stays the
last step's: training too long can no longer cost the voice, and nothing is silently swapped. The
live model (the recipe's base, the adapter unmerged) is the one `speak` and `eval` load by default, so
the best step is chosen on what users hear.

A step that does not speak cannot win on similarity: steps are gated on stopping and intelligibility
first (`[eval] max_failures`, `max_wer`), and only steps that pass compete on `best`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback

from higgs_lora.backends.speech import TrainingSpeaker
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.core.hub import TINY
from higgs_lora.core.recipe import recipe_toml
from higgs_lora.core.schema import Recipe
from higgs_lora.evaluate.metrics import normalise
from higgs_lora.evaluate.report import interval, pct, sim
from higgs_lora.evaluate.score import ADAPTER, Scorer, SystemFigures, aggregate, speak_sample
from higgs_lora.evaluate.voice import TrainingVoice, training_voice

BEST = "best"
HIGHER_IS_BETTER = {"similarity": True, "wer": False, "cer": False, "loss": False}


class EvalCallback(TrainerCallback):
    def __init__(
        self,
        recipe: Recipe,
        out: Path,
        text_tokenizer: Any,
        audio_tokenizer: Any,
        device: str = "cpu",
        speakers: TrainingSpeaker | None = None,  # shared with [samples]; one of its own if None
    ) -> None:
        self.recipe = recipe
        self.config = recipe.eval
        self.out = out
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        for text in self.config.texts:  # fail before training, not at the first evaluation
            if not normalise(text, self.config.language):
                raise HiggsLoraError(
                    f"{recipe.source} [eval] texts: {text!r} has no words to score; remove it."
                )
        self.voice: TrainingVoice = training_voice(recipe, recipe.data_path)  # headers only: cheap
        asr = self.config.asr
        asr_name = TINY if asr == "auto" and recipe.model.base == TINY else (None if asr == "auto" else asr)
        self.scorer = Scorer(self.voice, asr_name, self.config.speaker_model, self.config.language, device)
        self.history: list[dict[str, Any]] = []
        self.best = _read_best(out / BEST, self.config.best)  # a resumed run keeps its earlier best
        prompt = recipe.data.system_prompt
        self.speakers = speakers or TrainingSpeaker(text_tokenizer, audio_tokenizer, prompt)
        self.speaker: Any = None
        self.writer: Any = None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and state.global_step % self.config.every_steps == 0:
            self.evaluate(model, state.global_step)

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        if self.config.best == "loss" and state.is_world_process_zero and metrics and "eval_loss" in metrics:
            self._consider(model, state.global_step, float(metrics["eval_loss"]), None)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            if not self.history or self.history[-1]["step"] != state.global_step:
                self.evaluate(model, state.global_step)  # the last step is always judged too
            if self.writer is not None:
                self.writer.close()

    def evaluate(self, model: Any, step: int) -> SystemFigures:
        """Speak and score the texts with the live adapter; record the figures; keep it if best."""
        from torch.utils.tensorboard import SummaryWriter

        if self.speaker is None:
            self.speaker = self.speakers(model)
            self.writer = SummaryWriter(str(self.out / "logs"))
        samples, audio = [], []
        for index, text in enumerate(self.config.texts):
            sample, speech = speak_sample(
                self.speaker,
                ADAPTER,
                index,
                text,
                "recipe",
                self.voice,
                self.config.seed,
                self.config.temperature,
                self.config.max_seconds,
            )
            samples.append(sample)
            audio.append(speech.audio)
        self.scorer.score(samples, audio, int(self.audio_tokenizer.sampling_rate), progress=False)
        figures = aggregate(ADAPTER, samples, step, self.config.language)
        self.history.append(asdict(figures))
        for name in ("wer", "cer", "similarity", "duration_ratio", "silence_share"):
            value = getattr(figures, name)
            if value is not None:
                self.writer.add_scalar(f"eval/{name}", value, step)
        self.writer.add_scalar("eval/never_stopped", figures.never_stopped / figures.samples, step)
        self.writer.add_scalar("eval/failed", figures.failures / figures.samples, step)
        self.writer.flush()
        tqdm.write(round_line(figures, self.config.max_failures, self.config.max_wer))
        if self.config.best != "loss":
            self._consider(model, step, getattr(figures, self.config.best), figures)
        return figures

    def _consider(self, model: Any, step: int, value: float | None, figures: SystemFigures | None) -> None:
        if value is None or math.isnan(value):
            return  # nothing could be measured (e.g. no audio): never the best
        candidate = {"metric": self.config.best, "value": value, "step": step}
        if figures is not None:
            candidate["passed"] = figures.passes(self.config.max_failures, self.config.max_wer)
            candidate["failures"], candidate["wer"] = figures.failures, figures.wer
        if self.best is not None and self._rank(candidate) <= self._rank(self.best):
            return
        self.best = candidate
        self.best["figures"] = asdict(figures) if figures is not None else None
        _save_best(model, self.recipe, self.out / BEST, self.best)

    def _rank(self, entry: dict[str, Any]) -> tuple[float, ...]:
        """Larger is better: a step that passes the gate ranks by the `best` figure; one that does not
        ranks below every passing step, by fewer failures, then lower WER."""
        signed = entry["value"] if HIGHER_IS_BETTER[self.config.best] else -entry["value"]
        if entry.get("passed", True):
            return (1.0, signed)
        return (0.0, -entry["failures"], -entry["wer"], signed)

    def record(self) -> dict[str, Any]:
        """What metrics.json and the model card record: the history and the best step."""
        best = self.best or {}
        return {
            "quality_history": self.history,
            "best_metric": self.config.best,
            "best_step": best.get("step"),
            "best_value": best.get("value"),
            "best_dir": str(self.out / BEST) if best else None,
        }


def round_line(figures: SystemFigures, max_failures: float, max_wer: float) -> str:
    """'[eval] step 200: WER 4.1% [2.0%, 6.3%], similarity 0.82 [0.78, 0.85], 0/20 failed'."""
    wer = f"WER {pct(figures.wer)} {interval(figures.wer_interval, '.1%')}"
    similarity = f"similarity {sim(figures.similarity)} {interval(figures.similarity_interval, '.2f')}"
    gate = (
        ""
        if figures.passes(max_failures, max_wer)
        else f" (not a candidate for best: more than {max_failures:.0%} failed or WER above {max_wer:.0%})"
    )
    return (
        f"[eval] step {figures.step}: {wer}, {similarity}, {figures.failures}/{figures.samples} failed "
        f"({figures.never_stopped} never stopped){gate}"
    )


def _save_best(model: Any, recipe: Recipe, folder: Path, best: dict[str, Any]) -> None:
    """PEFT files + recipe.toml + best.json into `folder`, each file replaced atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    model.peft_config[model.active_adapter].base_model_name_or_path = recipe.model.base
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=folder) as staging:
        model.save_pretrained(staging, safe_serialization=True, save_embedding_layers=False)
        for file in ("adapter_config.json", "adapter_model.safetensors"):
            os.replace(Path(staging) / file, folder / file)
    write_text_atomic(folder / "recipe.toml", recipe_toml(recipe))
    write_text_atomic(folder / "best.json", json.dumps(best, indent=2) + "\n")


def _read_best(folder: Path, metric: str) -> dict[str, Any] | None:
    """The best so far of an interrupted run (train --force removes best/ first), if judged alike."""
    file = folder / "best.json"
    if not file.is_file():
        return None
    best = json.loads(file.read_text(encoding="utf-8"))
    return best if best.get("metric") == metric else None
