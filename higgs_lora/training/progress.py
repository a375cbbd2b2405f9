"""How far a training run has got, read from what it already writes into adapters/<name>/.

The Trainer flushes its TensorBoard scalars (logs/events.out.tfevents.*) at every `log_steps`, writes
checkpoints/checkpoint-N/ at `save_steps`, `[samples]` leaves samples/step-N/*.wav and a finished run
leaves adapter_model.safetensors + metrics.json. Reading those files — not a channel of its own — lets
any watcher (the studio page, a notebook, a second terminal) follow a run in another process, and
follow it again after it was closed and reopened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from higgs_lora.training.checkpoints import checkpoints

RATE_WINDOW = 20  # logged points the steps/s figure is measured over: recent speed, not the warm-up's


@dataclass
class TrainProgress:
    """One look at a run's folder. `losses` are (step, loss); rates and ETA are None until measurable."""

    adapter_dir: Path
    step: int = 0
    max_steps: int | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    steps_per_second: float | None = None
    checkpoints: list[str] = field(default_factory=list)  # complete ones, oldest first
    samples: dict[int, list[str]] = field(default_factory=dict)  # step → WAVs, relative to adapter_dir
    finished: bool = False  # the adapter and metrics.json are written

    @property
    def eta_seconds(self) -> float | None:
        if self.finished or not self.steps_per_second or self.max_steps is None:
            return None
        return max(self.max_steps - self.step, 0) / self.steps_per_second

    @property
    def last_checkpoint(self) -> str | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "max_steps": self.max_steps,
            "losses": self.losses,
            "eval_losses": self.eval_losses,
            "steps_per_second": self.steps_per_second,
            "eta_seconds": self.eta_seconds,
            "checkpoints": self.checkpoints,
            "samples": {str(step): files for step, files in sorted(self.samples.items())},
            "finished": self.finished,
        }


def read_progress(adapter_dir: str | Path, max_steps: int | None = None) -> TrainProgress:
    """The progress of the run writing into `adapter_dir` (running, stopped or finished).

    `max_steps` (the recipe's) gives the ETA before the first checkpoint records it."""
    out = Path(adapter_dir)
    progress = TrainProgress(out, max_steps=max_steps)
    points = _scalars(out / "logs", ("train/loss", "eval/loss"))
    loss = points.get("train/loss", {})
    progress.losses = [(step, value) for step, (_, value) in sorted(loss.items())]
    progress.eval_losses = [(step, v) for step, (_, v) in sorted(points.get("eval/loss", {}).items())]
    progress.steps_per_second = _rate(sorted((step, wall) for step, (wall, _) in loss.items()))
    complete = [path for _, path, done in checkpoints(out / "checkpoints") if done]
    progress.checkpoints = [path.name for path in complete]
    state = complete[-1] / "trainer_state.json" if complete else None
    if state is not None and state.is_file():
        progress.max_steps = json.loads(state.read_text(encoding="utf-8")).get("max_steps") or max_steps
    for folder in sorted((out / "samples").glob("step-*")):
        if folder.name[5:].isdigit():
            progress.samples[int(folder.name[5:])] = [
                str(wav.relative_to(out)) for wav in sorted(folder.glob("*.wav"))
            ]
    metrics = out / "metrics.json"
    if (out / "adapter_model.safetensors").is_file() and metrics.is_file():
        progress.finished = True
        progress.max_steps = json.loads(metrics.read_text(encoding="utf-8")).get("steps", progress.max_steps)
    steps = [step for step, _ in progress.losses] + [int(c.rsplit("-", 1)[1]) for c in progress.checkpoints]
    progress.step = max(steps, default=0)
    return progress


def _scalars(logs: Path, tags: tuple[str, ...]) -> dict[str, dict[int, tuple[float, float]]]:
    """tag → step → (wall time, value) from every event file in `logs`; a step logged again (after a
    resume) keeps its latest value."""
    if not logs.is_dir():
        return {}
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    found: dict[str, dict[int, tuple[float, float]]] = {}
    for file in sorted(logs.glob("events.out.tfevents.*")):
        try:
            for event in LegacyEventFileLoader(str(file)).Load():
                for value in event.summary.value:
                    if value.tag in tags and value.HasField("simple_value"):
                        known = found.setdefault(value.tag, {}).get(event.step)
                        if known is None or known[0] <= event.wall_time:
                            found[value.tag][event.step] = (event.wall_time, value.simple_value)
        except Exception:  # a record being written right now: what came before it is still good
            continue
    return found


def _rate(points: list[tuple[int, float]]) -> float | None:
    """Steps per second over the last RATE_WINDOW logged points (None with fewer than two). A pause far
    longer than the usual step (a stop and resume, samples being spoken) does not count as training."""
    recent = points[-RATE_WINDOW:]
    pairs = [(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(recent) if b[1] > a[1]]
    if not pairs:
        return None
    typical = sorted(seconds for _, seconds in pairs)[len(pairs) // 2]
    kept = [(steps, seconds) for steps, seconds in pairs if seconds <= 10 * typical]
    return sum(steps for steps, _ in kept) / sum(seconds for _, seconds in kept)
