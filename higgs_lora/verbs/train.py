"""`train`: recipe → data → 4-bit base + shim → LoRA → Trainer → adapter in adapters/<name>/.

Readable top to bottom: fail fast on the recipe and the output folder, prepare data, load the model,
train, then write the adapter and its report. CPU and CUDA share this path; `Runtime` names what differs.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from higgs_lora.adapter.setup import recipe_setup
from higgs_lora.core.distributed import Ranks
from higgs_lora.core.downloads import describe_downloads, planned_downloads
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError, TrainingStopped
from higgs_lora.core.recipe import load_recipe, recipe_toml
from higgs_lora.core.schema import Recipe
from higgs_lora.training.arguments import text_term, training_arguments
from higgs_lora.training.checkpoints import (
    check_disk_space,
    checkpoint_bytes,
    discard_incomplete,
    last_complete,
)
from higgs_lora.training.report import (
    loss_history,
    peak_memory_bytes,
    plot_losses,
    summary,
    write_metrics,
    write_model_card,
)
from higgs_lora.verbs.prepare import encode

log = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class TrainResult:
    adapter_dir: Path
    metrics: dict[str, Any]
    model: Any  # the trained PeftModel, still in memory


def train(
    recipe: Recipe | str | Path,
    *,
    name: str | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    force: bool = False,
    callbacks: list[Any] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the adapter a recipe describes. `resume` continues from the last checkpoint; `force`
    replaces an existing adapter of the same name. Returns where it went, its metrics and the model."""
    recipe = _with_overrides(recipe, name, max_steps)
    ref = recipe.samples.ref_audio
    if recipe.samples.every_steps and ref and not (recipe.base_dir / ref).is_file():
        raise HiggsLoraError(f"{recipe.source} [samples] ref_audio = {ref!r}: file not found.")
    out = recipe.adapter_dir
    ranks = Ranks()
    # The setup is resolved once (backend, revisions, layouts checked: a checkpoint this backend cannot
    # read is refused here) and recorded with the adapter (recipe.toml), which then loads on this backend.
    setup = recipe_setup(recipe)
    recipe.model = setup.model
    if ranks.is_main:
        print(describe_downloads(planned_downloads(recipe.model)), flush=True)
    with ranks.main_first():  # only the main process changes the folder; the others read the result
        resume_from = _claim_output(out, resume=resume, force=force, mutate=ranks.is_main)

    # Heavy imports only now, so a bad recipe or folder fails in well under a second.
    from transformers import set_seed

    from higgs_lora.core.licenses import license_notice
    from higgs_lora.data import SpeechDataset, build_examples, reference_note, split_examples
    from higgs_lora.model import (
        apply_lora,
        enable_layer_checkpointing,
        load_audio_tokenizer,
        load_base_model,
        load_text_tokenizer,
        pick_runtime,
    )
    from higgs_lora.training.trainer import HiggsTrainer, NonFiniteLossError, StopOnSignal

    runtime = pick_runtime(recipe.model)
    backend = setup.backend

    # 1. Data: encode what the cache lacks, build ChatML examples, hold some out for eval.
    listening = recipe.samples.every_steps > 0
    judging = recipe.eval.every_steps > 0  # [eval]: score the voice, keep the best adapter
    audio_tokenizer = load_audio_tokenizer(recipe.model, runtime.device) if listening or judging else None
    with ranks.main_first():  # the main process encodes; the others then find everything cached
        prepared = encode(recipe, audio_tokenizer, progress=progress and ranks.is_main)
    if ranks.is_main:
        print(prepared.summary())
    text_tokenizer = load_text_tokenizer(recipe.model)
    examples = build_examples(prepared.clips, recipe.data.reference, recipe.train.seed)
    notes = [note for note in [reference_note(prepared.clips, recipe.data.reference)] if note]
    notice = license_notice(recipe.model.backend)  # Higgs TTS 3: the base's license passes to the adapter
    if notice is not None:
        notes.append(notice)
        if ranks.is_main:
            print(notice, flush=True)
    for note in notes if ranks.is_main else []:
        log.warning(note)
    train_examples, eval_examples = split_examples(examples, recipe.data.eval_fraction, recipe.train.seed)

    # 2. Model: frozen (4-bit) base with the backend's labels shim, layer checkpointing, then PEFT on top.
    base = load_base_model(recipe.model, runtime)
    random_head = text_term(recipe, backend.random_text_head(base))  # sets text_loss_weight 0 if so
    if random_head is not None:
        notes.append(random_head)
        if ranks.is_main:
            log.warning(random_head)
    if recipe.train.gradient_checkpointing:
        enable_layer_checkpointing(base)
    # Seed right before the LoRA init: encoding audio (done only when the cache is cold) draws from the
    # global RNG, and the adapter must not depend on whether the cache was warm.
    set_seed(recipe.train.seed)
    model = apply_lora(base, recipe.lora)
    trainable, total = model.get_nb_trainable_parameters()
    keep = recipe.train.save_total_limit + 1  # the Trainer writes a new one before rotating an old one
    check_disk_space(out, keep * checkpoint_bytes(trainable) + trainable * 4 + (64 << 20))

    # 3. Trainer.
    def dataset(items: list[Any]) -> SpeechDataset:
        return SpeechDataset(items, text_tokenizer, recipe.data.system_prompt, backend)

    train_dataset = dataset(train_examples)
    lengths = train_dataset.lengths(backend.codebooks(base.config)[0])
    bucketed = recipe.train.bucket_by_length and recipe.train.batch_size > 1
    trainer = HiggsTrainer(
        model=model,
        args=training_arguments(recipe, runtime, out, progress, evaluate=bool(eval_examples)),
        train_dataset=train_dataset,
        lengths=lengths if bucketed else None,
        eval_dataset=dataset(eval_examples) if eval_examples else None,
        data_collator=backend.training_collator(base.config),
        text_loss_weight=recipe.train.text_loss_weight,
        callbacks=list(callbacks or []),
    )
    # [samples] and [eval] speak through one Speaker: one set of KV caches on the card, not two.
    from higgs_lora.backends.speech import TrainingSpeaker

    speakers = TrainingSpeaker(text_tokenizer, audio_tokenizer, recipe.data.system_prompt)
    if listening:
        from higgs_lora.training.listen import ListenCallback

        ref = recipe.samples.ref_audio
        trainer.add_callback(
            ListenCallback(
                recipe.samples,
                out,
                text_tokenizer,
                audio_tokenizer,
                recipe.data.system_prompt,
                ref_audio=(recipe.base_dir / ref) if ref else None,
                speakers=speakers,
            )
        )

    judge = None
    if judging:
        from higgs_lora.evaluate.callback import EvalCallback

        judge = EvalCallback(recipe, out, text_tokenizer, audio_tokenizer, str(runtime.device), speakers)
        trainer.add_callback(judge)

    # 4. Train. SIGINT/SIGTERM save a checkpoint and stop; a non-finite loss stops before saving.
    started = time.perf_counter()
    stop = StopOnSignal()
    trainer.add_callback(stop)
    try:
        with stop:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except NonFiniteLossError as err:
        raise TrainingStopped(
            f"{err}. {_last_good(out)} Lower [train] learning_rate or raise warmup_steps, "
            f"then resume: {_resume_command(recipe)}",
            exit_code=1,
        ) from None
    if stop.received is not None:
        raise TrainingStopped(
            f"stopped by {signal.Signals(stop.received).name} after step {trainer.state.global_step}. "
            f"{_last_good(out)} Resume with: {_resume_command(recipe)}",
            exit_code=128 + stop.received,
        )
    seconds = time.perf_counter() - started
    eval_loss = trainer.evaluate()["eval_loss"] if eval_examples else None

    # 5. Adapter + report.
    metrics = _metrics(recipe, trainer, runtime, prepared, lengths, bucketed, seconds, eval_loss, resume_from)
    metrics["train_examples"], metrics["eval_examples"] = len(train_examples), len(eval_examples)
    metrics["notes"] = notes
    # `higgs-lora eval` compares with the training voice and speaks the held-out sentences.
    metrics["data_path"] = str(recipe.data_path)
    metrics["eval_texts"] = [example.text for example in eval_examples]
    if judge is not None:
        metrics.update(judge.record())
    if ranks.is_main:
        save_adapter(model, recipe, metrics, out)
        print(summary(metrics, out))
    ranks.wait()
    return TrainResult(out, metrics, model)


def _metrics(
    recipe: Recipe,
    trainer: Any,
    runtime: Any,
    prepared: Any,
    lengths: list[int],
    bucketed: bool,
    seconds: float,
    eval_loss: float | None,
    resume_from: Path | None,
) -> dict[str, Any]:
    """What metrics.json records about a finished run."""
    history = trainer.state.log_history
    train_losses = loss_history(history)
    trainable, total = trainer.model.get_nb_trainable_parameters()
    order = list(trainer._get_train_sampler())
    return {
        "name": recipe.name,
        "base_model": recipe.model.base,
        "base_revision": recipe.model.revision,
        "audio_tokenizer": recipe.model.audio_tokenizer,
        "audio_tokenizer_revision": recipe.model.audio_tokenizer_revision,
        "text_loss_weight": recipe.train.text_loss_weight,
        "first_loss": train_losses[0][1],
        "final_loss": train_losses[-1][1],
        "eval_loss": eval_loss,
        "steps": trainer.state.global_step,
        "resumed_from_step": _step_of(resume_from),
        "loss_history": train_losses,
        "eval_history": loss_history(history, "eval_loss"),
        "audio_minutes": sum(item.seconds for item in prepared.clips) / 60,
        "train_seconds": round(seconds, 2),
        "padding_fraction": round(padding_fraction(lengths, order, recipe.train.batch_size), 4),
        "data_wait_fraction": round(trainer.data_wait_seconds / max(seconds, 1e-9), 4),
        "dataloader_workers": trainer.args.dataloader_num_workers,
        "bucketed": bucketed,
        "trainable_params": trainable,
        "total_params": total,
        "peak_memory_bytes": peak_memory_bytes(runtime.device),
        "device": str(runtime.device),
        "compute_dtype": str(runtime.compute_dtype).removeprefix("torch."),
        "mixed_precision": runtime.mixed_precision,
    }


def save_adapter(model: Any, recipe: Recipe, metrics: dict[str, Any], out: Path) -> None:
    """Write the PEFT files, recipe, metrics, loss plot and model card; each file lands atomically."""
    out.mkdir(parents=True, exist_ok=True)
    # The adapter names the base as the recipe does ("tiny-random" or a hub id), not as the local
    # folder it was loaded from, so that it travels to other machines.
    model.peft_config["default"].base_model_name_or_path = recipe.model.base
    # PEFT's own record of the base revision (AutoPeftModel loads the base at it); None for local folders.
    model.peft_config["default"].revision = recipe.model.revision
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=out) as staging:
        # save_embedding_layers=False: we never target embeddings, and PEFT's "auto" would otherwise
        # look the base id up on the hub (a network round trip, or retries when offline).
        model.save_pretrained(staging, safe_serialization=True, save_embedding_layers=False)
        for file in ADAPTER_FILES:
            os.replace(Path(staging) / file, out / file)
    header = f"# The validated recipe this adapter was trained with (from {recipe.source}).\n"
    header += "# Relative paths in it resolve against that file's folder.\n\n"
    (out / "recipe.toml").write_text(header + recipe_toml(recipe), encoding="utf-8")
    write_metrics(out, metrics)
    plot_losses(out, metrics)
    write_model_card(out, recipe, metrics)


def _with_overrides(recipe: Recipe | str | Path, name: str | None, max_steps: int | None) -> Recipe:
    overrides: dict[str, Any] = {}
    if name is not None:
        overrides["name"] = name
    if max_steps is not None:
        overrides["train.max_steps"] = max_steps
    if isinstance(recipe, Recipe):
        if not overrides:
            return recipe
        source = recipe.source
        data = recipe.model_dump(exclude={"source"})
        for dotted, value in overrides.items():
            *tables, key = dotted.split(".")
            node = data
            for table in tables:
                node = node[table]
            node[key] = value
        updated = Recipe.model_validate(data)
        updated.source = source
        return updated
    return load_recipe(recipe, overrides)


def _claim_output(out: Path, *, resume: bool, force: bool, mutate: bool = True) -> Path | None:
    """Decide what happens to adapters/<name>/ before any heavy work; returns the checkpoint to resume.

    With `mutate=False` (the non-main processes of a distributed run) nothing is removed."""
    checkpoints = out / "checkpoints"
    for removed in discard_incomplete(checkpoints) if mutate else []:
        log.warning("removed %s: a crash interrupted writing it", removed)
    last = last_complete(checkpoints)
    finished = (out / "adapter_model.safetensors").is_file()
    if resume:
        if last is None:
            raise HiggsLoraError(
                f"--resume: no checkpoint in {checkpoints} to continue from. Start without --resume."
            )
        return Path(last)
    if force:
        for folder in (checkpoints, out / "logs", out / "best") if mutate else ():
            shutil.rmtree(folder, ignore_errors=True)
    elif finished:
        raise OutputExistsError(
            f"{out} already holds a trained adapter. Pass --force to replace it, or --name NAME to train "
            "under another name."
        )
    elif last is not None:
        raise OutputExistsError(
            f"{out} holds checkpoints of an unfinished run (last: {Path(last).name}). Pass --resume to "
            "continue it, or --force to start over."
        )
    _check_writable(out)
    return None


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as err:
        raise HiggsLoraError(
            f"{out}: cannot write the adapter there ({err.strerror}). Choose another output_dir."
        ) from None


def padding_fraction(lengths: list[int], order: list[int], batch_size: int) -> float:
    """Share of padded positions when `order` is cut into batches (each padded to its longest)."""
    padded = total = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start : start + batch_size]]
        padded += max(batch) * len(batch) - sum(batch)
        total += max(batch) * len(batch)
    return padded / total if total else 0.0


def _last_good(out: Path) -> str:
    last = last_complete(out / "checkpoints")
    return f"Last good checkpoint: {last}." if last else "No checkpoint was saved yet."


def _resume_command(recipe: Recipe) -> str:
    return f"higgs-lora train {recipe.source or 'RECIPE'} --name {recipe.name} --resume"


def _step_of(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else None
