"""`HiggsTrainer`: transformers' Trainer with the Higgs loss and per-codebook logging.

Everything else (gradient accumulation, schedules, optimizers incl. paged 8-bit AdamW, checkpoints,
resume, eval, TensorBoard, progress bar) is the Trainer's own.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.higgs.loss import HiggsLoss, higgs_loss
from higgs_lora.model.lean import DeferredTextHead
from higgs_lora.training.checkpoints import mark_complete, remove_old_checkpoints
from higgs_lora.training.sampler import EpochLengthGroupedSampler

# The Trainer versions HiggsTrainer was written and checked against, each with what it does there that
# the Trainer does not. A later Trainer may already do the same (e.g. divide accumulated gradients
# itself: ours would then divide twice), so outside these ranges the trainer refuses to start until
# someone re-checks (tests/e2e/test_distributed.py compares accumulation with batch and processes).
# 4.46 serves the boson backend, 5.x the native one.
TRAINER_VERSIONS = {
    ">=4.46,<4.47": [
        "gradient accumulation as a true mean over each window's micro-batches (training_step)",
        "optimizer state loaded to 'cpu' on --resume under gloo (_load_optimizer_and_scheduler)",
        "numpy RNG state allowed by torch.load on --resume (_load_rng_state)",
    ],
    # 5.x divides each micro-batch's loss by the accumulation steps itself (training_step, when the
    # model takes no loss kwargs) and keeps accelerate's at 1; it loads the RNG state itself.
    ">=5.3,<6": [
        "optimizer state loaded to 'cpu' on --resume under gloo (_load_optimizer_and_scheduler)",
        "the resumed epoch reaching the bucketing sampler with several processes (get_resumed_dataloader)",
    ],
}


def trainer_version_range(version: str | None = None) -> str:
    """The `TRAINER_VERSIONS` range holding transformers `version` (the installed one by default);
    refuses, naming every workaround and range, a version none was written for."""
    import transformers
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    version = version or transformers.__version__
    for spec in TRAINER_VERSIONS:
        if Version(version) in SpecifierSet(spec):
            return spec
    known = "\n".join(f"  {spec}: " + "; ".join(names) for spec, names in TRAINER_VERSIONS.items())
    raise HiggsLoraError(
        f"transformers {version} is outside the versions HiggsTrainer and its workarounds were written "
        f"for:\n{known}\nInstall a backend's pinned versions (README, 'Install'), or re-check each "
        "workaround against this Trainer."
    )


def accumulates_by_accelerator(version: str | None = None) -> bool:
    """Whether this Trainer leaves dividing accumulated gradients to us (4.46 does; 5.x divides itself)."""
    return trainer_version_range(version) == ">=4.46,<4.47"


class NonFiniteLossError(RuntimeError):
    """Raised when the loss becomes NaN or infinite, so no poisoned checkpoint is written."""

    def __init__(self, value: float, step: int) -> None:
        super().__init__(f"loss became {value} at step {step}")
        self.value = value
        self.step = step


class HiggsTrainer(Trainer):
    def __init__(
        self, *args: Any, text_loss_weight: float = 1.0, lengths: list[int] | None = None, **kwargs: Any
    ) -> None:
        trainer_version_range()
        super().__init__(*args, **kwargs)
        self.lengths = lengths
        self.bucketing: EpochLengthGroupedSampler | None = None  # the training order when lengths are given
        self.text_loss_weight = text_loss_weight
        self.text_head = DeferredTextHead(self.model)
        # PeftModel.forward takes **kwargs, which makes Trainer (4.46) believe the model computes a
        # token-normalised loss itself and pass it `num_items_in_batch`. Our loss is a per-micro-batch
        # mean that accelerate divides by the accumulation steps, as for any plain loss.
        self.model_accepts_loss_kwargs = False
        self._parts: dict[str, list[float]] = defaultdict(list)
        self.data_wait_seconds = 0.0  # time the training loop spent waiting for batches
        # transformers 4.46.3 builds its Accelerator without a gradient-accumulation plugin
        # (trainer.py `create_accelerator_and_postprocess`) and `training_step` divides only the
        # *reported* loss, so a loss that is a plain mean gets its gradients summed over micro-batches:
        # GA times too large, and `max_grad_norm` clips at the wrong scale. Its windows are not always
        # GA micro-batches either (an epoch of fewer batches than GA steps at its end, and the next
        # windows then close early), so no fixed divisor is right: `training_step` divides the summed
        # gradients by the micro-batches the window really had, before clipping, giving the mean
        # gradient (the same as one batch of them, and as the same global batch over several processes).
        self.window_mean = accumulates_by_accelerator()
        self._window: list[float] = []  # this window's micro-batch losses, undivided
        # One mixed-precision setup on every device: accelerate autocasts the model's forward and
        # converts its outputs to fp32, and `compute_loss` runs without autocast. That is what the
        # Trainer does on CUDA; on CPU (transformers 4.46 `__init__`, "cpu_amp") it would also
        # autocast the loss, which hid a dtype bug of the deferred text head from every CPU test.
        self.use_cpu_amp = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        label_audio_ids = inputs.pop("label_audio_ids")
        with self.text_head.deferring():  # text logits only where a text label exists
            outputs = model(**inputs)
        loss = higgs_loss(
            outputs.logits,
            outputs.expanded_labels,
            outputs.audio_logits,
            label_audio_ids,
            self.text_loss_weight,
            text_head=self.text_head.head,
        )
        if _any_rank(not torch.isfinite(loss.total)):  # collective, so every process stops together
            raise NonFiniteLossError(loss.total.item(), self.state.global_step + 1)
        if model.training:
            self._record(loss)
        return (loss.total, outputs) if return_outputs else loss.total

    def training_step(self, model, inputs, *args: Any, **kwargs: Any):
        loss = super().training_step(model, inputs, *args, **kwargs)
        if not self.window_mean:
            return loss
        steps = self.args.gradient_accumulation_steps
        self._window.append(float(loss) * steps)  # 4.46 returns the micro-batch loss / GA
        if not self.accelerator.sync_gradients:  # the loop set it: this micro-batch ends no window
            return loss
        count = len(self._window)
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.grad.div_(count)
        # The reported loss is summed over the window: make this window's sum its mean, as the gradient.
        correction = sum(self._window) * (1 / count - 1 / steps)
        self._window.clear()
        return loss + correction

    def get_batch_samples(self, *args: Any, **kwargs: Any):
        # The loop fetches each optimizer step's micro-batches here; the time spent is time the
        # accelerator waited on the data loader (reported as a share of training time).
        started = time.perf_counter()
        try:
            return super().get_batch_samples(*args, **kwargs)
        finally:
            self.data_wait_seconds += time.perf_counter() - started

    def _get_train_sampler(self, *args: Any, **kwargs: Any):
        # Trainer's own length grouping reads lengths from a `datasets.Dataset` column or by indexing
        # dict samples; ours are the backend's samples, so the lengths come from the dataset (cache headers).
        # Its order is drawn per epoch from the seed (training/sampler.py), so that --resume in a later
        # epoch skips the batches that epoch really trained.
        if self.lengths is None:
            return super()._get_train_sampler(*args, **kwargs)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        self.bucketing = EpochLengthGroupedSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps, self.lengths, seed
        )
        return self.bucketing

    def get_resumed_dataloader(self, dataloader: Any, num_batches: int) -> Any:
        # transformers 5 only (4.46 skips batches inline). It calls `set_epoch` on the loader that skips
        # the resumed epoch's trained batches, after wrapping; with several processes that loader's batch
        # sampler is SkipBatchSampler(BatchSamplerShard(BatchSampler(sampler))), which accelerate's
        # `DataLoaderShard.set_epoch` (1.16) does not descend to, so the bucketing sampler would keep
        # epoch 0 and replay its order. Hand the epoch to it as well.
        resumed = super().get_resumed_dataloader(dataloader, num_batches)
        sampler = self.bucketing
        if sampler is not None:
            forward = resumed.set_epoch

            def set_epoch(epoch: int) -> None:
                forward(epoch)
                sampler.set_epoch(epoch)

            resumed.set_epoch = set_epoch
        return resumed

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._parts:
            for name, values in self._parts.items():
                logs[name] = round(sum(values) / len(values), 4)
            self._parts.clear()
        super().log(logs, *args, **kwargs)

    def _save_checkpoint(self, model, trial, *args: Any, **kwargs: Any) -> None:
        # The Trainer deletes checkpoints beyond save_total_limit as the last act of `_save_checkpoint`
        # (4.46 `_rotate_checkpoints`, 5.x `rotate_checkpoints`), before our marker could be written:
        # with save_total_limit = 1 a kill in between left only an unmarked checkpoint, which is never
        # resumed from, so nothing. Save with its rotation off, mark, then delete the old ones: at every
        # moment a complete checkpoint exists.
        limit = self.args.save_total_limit
        self.args.save_total_limit = None
        try:
            super()._save_checkpoint(model, trial, *args, **kwargs)
        finally:
            self.args.save_total_limit = limit
        # Written last: a checkpoint without the marker was interrupted and is never resumed from.
        run_dir = Path(self._get_output_dir(trial=trial))
        folder = run_dir / f"checkpoint-{self.state.global_step}"
        if folder.is_dir() and self.args.should_save:
            mark_complete(folder)
            if limit:
                best = self.state.best_model_checkpoint
                remove_old_checkpoints(run_dir, keep=limit, protect=Path(best) if best else None)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        # transformers 4.46 maps the optimizer state to `args.device` in multi-process runs, which under
        # CPU (gloo) data parallelism is torch.device("cpu", 0): a location torch.load cannot restore to,
        # so --resume failed there. Load to "cpu" in that one case; all others are the Trainer's.
        if checkpoint is None or self.args.world_size == 1 or self.args.device.type != "cpu":
            return super()._load_optimizer_and_scheduler(checkpoint)
        from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME

        folder = Path(checkpoint)
        if (folder / OPTIMIZER_NAME).is_file() and (folder / SCHEDULER_NAME).is_file():
            self.optimizer.load_state_dict(
                torch.load(folder / OPTIMIZER_NAME, map_location="cpu", weights_only=True)
            )
            self.lr_scheduler.load_state_dict(torch.load(folder / SCHEDULER_NAME, weights_only=True))
        return None

    def _load_rng_state(self, checkpoint: str) -> None:
        # transformers 4.46 `Trainer._load_rng_state` torch.load()s the rng_state.pth it wrote itself,
        # and torch >= 2.6 defaults to weights_only=True, which rejects the numpy RNG state inside
        # (so --resume would fail). Allow exactly the numpy types of that state; removable with
        # transformers >= 4.50, which loads it with weights_only=False.
        with torch.serialization.safe_globals(_numpy_rng_state_types()):
            super()._load_rng_state(checkpoint)

    def _record(self, loss: HiggsLoss) -> None:
        self._parts["loss_text"].append(loss.text.item())
        self._parts["loss_audio"].append(loss.audio.item())
        for index, value in enumerate(loss.per_codebook.tolist()):
            if value == value:  # not NaN: this codebook had targets in the batch
                self._parts[f"loss_codebook_{index}"].append(value)


def _numpy_rng_state_types() -> list[Any]:
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


class StopOnSignal(TrainerCallback):
    """SIGINT/SIGTERM: finish the current optimizer step, save a checkpoint, stop cleanly.

    A second signal gets the previous behaviour (Ctrl-C twice aborts at once).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame: Any) -> None:
        self.received = number
        for previous_number, handler in self._previous.items():
            signal.signal(previous_number, handler)
        print(
            f"\n{signal.Signals(number).name}: stopping after this step and saving a checkpoint "
            "(send it again to abort at once)",
            flush=True,
        )

    def on_step_end(self, args, state, control, **kwargs):
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True
        return control


def _any_rank(flag: bool) -> bool:
    """`flag` OR-ed across the processes of a distributed run (just `flag` in a single process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return bool(flag)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
