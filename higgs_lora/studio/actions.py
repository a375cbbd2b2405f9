"""What each studio endpoint does: one public-API call or one `higgs-lora` command, nothing more.

Quick reads (the project listing, a recipe, `plan`, training progress, a data set's clips) run here;
anything long runs as the CLI command the page prints beside it (studio.jobs). Every function takes
the project, its jobs and the request's parameters and returns what the page shows, as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.recipe import load_recipe, recipe_toml
from higgs_lora.core.starter import starter_recipe
from higgs_lora.studio.jobs import KINDS, Jobs
from higgs_lora.studio.project import Project

GIB = 2**30


def warm_up() -> None:
    """Import what `plan` needs (torch, the model skeletons) before the first request asks for it."""
    import higgs_lora.verbs.plan  # noqa: F401


def refuse_if_busy(jobs: Jobs) -> None:
    """Every action that changes the project waits for the running one."""
    jobs.check_idle()


def state(project: Project, jobs: Jobs, query: dict) -> dict:
    running = jobs.running()
    return {
        **project.listing(),
        "busy": None if running is None else {"kind": running.kind, "command": running.shell_line},
        "jobs": {kind: jobs.status(kind) for kind in KINDS},
    }


# --- Recipe -----------------------------------------------------------------------------------------


def _choices_recipe(project: Project, body: dict) -> Any:
    """The recipe the form's choices describe, to be saved as recipes/<name>.toml."""
    name = Project.check_name(body.get("name"), "recipe")
    dataset = Project.check_name(body.get("dataset"), "data set")
    try:
        return starter_recipe(
            name,
            f"../data/{dataset}",
            base=str(body.get("base") or "bosonai/higgs-tts-2-3b-base"),
            backend=str(body.get("backend") or "auto"),
            gpu_memory_gb=float(body.get("gpu_memory_gb") or 12),
            voice_clone=bool(body.get("voice_clone")),
            max_steps=int(body.get("max_steps") or 500),
            samples_every=None if body.get("samples_every") in (None, "") else int(body["samples_every"]),
            source=project.recipe_path(name),
        )
    except (TypeError, ValueError) as err:
        raise HiggsLoraError(f"the form holds a value that is not a number ({err})") from None


def plan(project: Project, jobs: Jobs, body: dict) -> dict:
    """`higgs-lora plan RECIPE --gpu-memory N GB` on the form's recipe, and the TOML it would save."""
    from higgs_lora.verbs.plan import plan_recipe

    recipe = _choices_recipe(project, body)
    toml = recipe_file_text(project, recipe)  # before planning: plan resolves `auto` in place
    gigabytes = float(body.get("gpu_memory_gb") or 12)
    result = plan_recipe(recipe, f"{gigabytes:g}GB")
    peak = result.training.total / GIB
    verdict = f"{'fits' if result.training.fits else 'does NOT fit'} {gigabytes:g} GB: {peak:.1f} GiB"
    return {
        "toml": toml,
        "fits": result.training.fits,
        "peak_gib": round(peak, 2),
        "verdict": verdict,
        "report": result.training.report(),
        "cli": f"higgs-lora plan recipes/{recipe.name}.toml --gpu-memory {gigabytes:g}GB",
    }


def recipe_file_text(project: Project, recipe: Any) -> str:
    rel = f"recipes/{recipe.name}.toml"
    header = (
        f"# Written by higgs-lora studio. Train it from {project.root} with:\n#   higgs-lora train {rel}\n\n"
    )
    return header + recipe_toml(recipe)


def save_recipe(project: Project, jobs: Jobs, body: dict) -> dict:
    """Write the form's recipe to recipes/<name>.toml, the file `higgs-lora train` reads."""
    refuse_if_busy(jobs)
    recipe = _choices_recipe(project, body)
    if not (project.root / "data" / str(body["dataset"]) / "clips.json").is_file():
        raise HiggsLoraError(f"data set {body['dataset']!r}: build it on the Voice data tab first.")
    text = recipe_file_text(project, recipe)
    path = project.recipe_path(recipe.name)
    path.write_text(text, encoding="utf-8")
    load_recipe(path)  # what the CLI will read: it must validate the same
    return {
        "path": project.relative(path),
        "toml": text,
        "cli": f"higgs-lora train recipes/{recipe.name}.toml",
    }


def read_recipe(project: Project, jobs: Jobs, query: dict) -> dict:
    path = project.recipe_path(query.get("name", ""))
    if not path.is_file():
        raise HiggsLoraError(f"no recipe {query.get('name')!r} in {project.root / 'recipes'}")
    recipe = load_recipe(path)
    return {
        "name": recipe.name,
        "toml": path.read_text(encoding="utf-8"),
        "max_steps": recipe.train.max_steps,
    }


# --- Train ------------------------------------------------------------------------------------------


def start_training(project: Project, jobs: Jobs, body: dict) -> dict:
    """`higgs-lora train recipes/NAME.toml [--resume | --force]` as a process of its own."""
    refuse_if_busy(jobs)
    path = project.recipe_path(body.get("recipe", ""))
    if not path.is_file():
        raise HiggsLoraError(f"no recipe {body.get('recipe')!r}: save one on the Recipe tab first.")
    load_recipe(path)  # a bad recipe is refused here, with the CLI's message
    mode = body.get("mode", "new")
    flags = {"new": [], "resume": ["--resume"], "force": ["--force"]}.get(mode)
    if flags is None:
        raise HiggsLoraError(f"mode {mode!r}: use new, resume or force")
    job = jobs.start("train", [["train", project.relative(path), *flags]])
    return {"command": job.shell_line}


def _train_recipe(project: Project, jobs: Jobs, name: str | None) -> Any:
    """The recipe named, else the one the last training run was started with."""
    if not name:
        job = jobs.read("train")
        if job is None:
            return None
        name = Path(job.commands[0][2]).stem
    path = project.recipe_path(name)
    return load_recipe(path) if path.is_file() else None


def train_status(project: Project, jobs: Jobs, query: dict) -> dict:
    """The run's progress as training writes it (TensorBoard scalars, checkpoints, samples) + its job."""
    from higgs_lora.training.progress import read_progress

    recipe = _train_recipe(project, jobs, query.get("recipe"))
    job = jobs.status("train")
    if recipe is None:
        return {"recipe": None, "job": job}
    adapter = project.root / recipe.output_dir / recipe.name
    progress = read_progress(adapter, recipe.train.max_steps)
    rel = project.relative(adapter) if adapter.exists() else f"{recipe.output_dir}/{recipe.name}"
    return {"recipe": recipe.name, "adapter": rel, "progress": progress.as_dict(), "job": job}


def stop(project: Project, jobs: Jobs, body: dict) -> dict:
    job = jobs.stop(str(body.get("kind", "train")))
    return {"message": f"asked {job.kind} to stop (it saves a checkpoint first)"}


# --- Voice data -------------------------------------------------------------------------------------

TEXT_SUFFIXES = (".srt", ".vtt", ".txt")
MAX_UPLOAD = 4 * 2**30


def upload(project: Project, jobs: Jobs, query: dict, body: Any) -> dict:
    """Store one uploaded file in recordings/<set>/; anything `dataset build` could not read is refused."""
    from higgs_lora.core.audio import AudioProblem, audio_seconds
    from higgs_lora.data.sources import AUDIO_SUFFIXES

    refuse_if_busy(jobs)
    name = Project.check_name(query.get("set"), "data set")
    filename = Project.check_name(Path(query.get("name", "")).name, "file")
    suffix = Path(filename).suffix.lower()
    if suffix not in (*AUDIO_SUFFIXES, *TEXT_SUFFIXES):
        raise HiggsLoraError(
            f"{filename}: not a recording or a transcript. Upload audio ({', '.join(AUDIO_SUFFIXES)}) "
            f"or its subtitles/transcript ({', '.join(TEXT_SUFFIXES)}); nothing was saved."
        )
    if not 0 < body.length <= MAX_UPLOAD:
        raise HiggsLoraError(f"{filename}: empty upload (or over 4 GiB); nothing was saved.")
    folder = project.confine(f"recordings/{name}")
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".upload-{filename}"
    with staging.open("wb") as handle:
        while chunk := body.read(1 << 20):
            handle.write(chunk)
    try:
        if suffix in TEXT_SUFFIXES:
            staging.read_text(encoding="utf-8")
            detail = "transcript"
        else:
            detail = f"{audio_seconds(staging):.1f} s of audio"
    except (AudioProblem, UnicodeDecodeError) as err:
        staging.unlink()
        why = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else str(err)
        raise HiggsLoraError(f"{filename}: {why}; nothing was saved. Upload WAV, FLAC, OGG or MP3.") from None
    staging.replace(folder / filename)
    return {"message": f"saved recordings/{name}/{filename} ({detail})"}


def build(project: Project, jobs: Jobs, body: dict) -> dict:
    """`higgs-lora dataset build recordings/SET --out data/SET` as a process of its own."""
    refuse_if_busy(jobs)
    name = Project.check_name(body.get("set"), "data set")
    if not any(p.is_file() for p in project.confine(f"recordings/{name}").glob("*")):
        raise HiggsLoraError(f"recordings/{name}/ is empty: upload or record something first.")
    command = ["dataset", "build", f"recordings/{name}", "--out", f"data/{name}"]
    if body.get("language"):
        command += ["--language", str(body["language"])]
    if body.get("max_seconds"):
        command += ["--max-seconds", f"{float(body['max_seconds']):g}"]
    return {"command": jobs.start("build", [command]).shell_line}


def dataset(project: Project, jobs: Jobs, query: dict) -> dict:
    """The review table of data/<name>: every clip with its (edited) transcript, and the build report."""
    import json

    from higgs_lora.dataset.manifest import read_clip_records, read_edits

    name = Project.check_name(query.get("name"), "data set")
    root = project.confine(f"data/{name}")
    edits = read_edits(root) if root.is_dir() else {}
    clips = []
    for record in read_clip_records(root):
        edit = edits.get(record.id)
        clips.append(
            {
                "id": record.id,
                "audio": f"data/{name}/{record.audio}",
                "text": edit.text if edit is not None and edit.text is not None else record.text,
                "dropped": edit is not None and edit.drop,
                "seconds": record.seconds,
            }
        )
    report = root / "report.json"
    return {
        "name": name,
        "clips": clips,
        "report": json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {},
    }


def save_edits(project: Project, jobs: Jobs, body: dict) -> dict:
    """The review page's save: `higgs_lora.save_dataset_edits` on data/<name>."""
    from higgs_lora.dataset.review import save_edits as save_dataset_edits

    refuse_if_busy(jobs)
    name = Project.check_name(body.get("name"), "data set")
    if not isinstance(body.get("edits"), dict):
        raise HiggsLoraError('expected {"name": ..., "edits": {clip_id: {"text": ..., "drop": ...}}}')
    return {"message": save_dataset_edits(project.confine(f"data/{name}"), body["edits"])}


# --- Listen, judge, use -----------------------------------------------------------------------------


def _adapter(project: Project, jobs: Jobs, body: dict) -> str:
    refuse_if_busy(jobs)
    name = Project.check_name(body.get("adapter"), "adapter")
    if not (project.confine(f"adapters/{name}") / "adapter_model.safetensors").is_file():
        raise HiggsLoraError(f"adapters/{name} holds no finished adapter yet: train it first.")
    return f"adapters/{name}"


def speak(project: Project, jobs: Jobs, body: dict) -> dict:
    """The sentence spoken by the base (without the adapter), the adapter and each chosen checkpoint,
    all with the same seed, one `higgs-lora speak` after another."""
    adapter = _adapter(project, jobs, body)
    text = str(body.get("text") or "").strip()
    if not text:
        raise HiggsLoraError("type a sentence to speak first.")
    seed = int(body.get("seed") or 0)
    longest = f"{float(body.get('max_seconds') or 10):g}"
    sources = [("base", adapter)] if body.get("base", True) else []
    sources.append(("adapter", adapter))
    for checkpoint in body.get("checkpoints") or []:
        Project.check_name(checkpoint, "checkpoint")
        folder = project.confine(f"{adapter}/checkpoints/{checkpoint}")
        if not folder.is_dir():
            raise HiggsLoraError(f"{adapter}/checkpoints/{checkpoint}: no such checkpoint")
        sources.append((checkpoint, project.relative(folder)))
    name = Path(adapter).name
    commands = [
        ["speak", "--text", text, "--adapter", source, "--seed", str(seed), "--max-seconds", longest,
         "--out", f"listen/{name}-{label}-seed{seed}.wav", "--force", *(["--base-only"] if label == "base" else [])]
        for label, source in sources
    ]  # fmt: skip
    job = jobs.start("speak", commands)
    return {"command": job.shell_line, "outputs": [c[c.index("--out") + 1] for c in commands]}


def evaluate(project: Project, jobs: Jobs, body: dict) -> dict:
    adapter = _adapter(project, jobs, body)
    return {"command": jobs.start("eval", [["eval", adapter, "--checkpoints", "--force"]]).shell_line}


def eval_figures(project: Project, jobs: Jobs, query: dict) -> dict:
    """What `higgs-lora eval` wrote in adapters/NAME/eval/: each system's figures and the plot."""
    import json

    name = Project.check_name(query.get("adapter"), "adapter")
    folder = project.confine(f"adapters/{name}/eval")
    report = folder / "eval.json"
    if not report.is_file():
        return {"systems": [], "plot": None}
    figures = json.loads(report.read_text(encoding="utf-8"))
    keys = ("system", "wer", "cer", "similarity", "failures", "samples", "never_stopped")
    return {
        "systems": [{k: item.get(k) for k in keys} for item in figures.get("systems", [])],
        "plot": f"adapters/{name}/eval/metrics.png" if (folder / "metrics.png").is_file() else None,
        "page": f"adapters/{name}/eval/index.html",
    }


def keep(project: Project, jobs: Jobs, body: dict) -> dict:
    """`higgs-lora adapters NAME --keep checkpoint-N`: that step as an adapter of its own (quick: a copy)."""
    from higgs_lora.adapter.keep import keep_checkpoint

    adapter = _adapter(project, jobs, body)
    checkpoint = Project.check_name(body.get("checkpoint"), "checkpoint")
    kept = keep_checkpoint(project.confine(adapter), checkpoint, force=True)
    return {
        "message": f"kept {checkpoint} as {project.relative(kept)}",
        "cli": f"higgs-lora adapters {Path(adapter).name} --keep {checkpoint} --force",
    }


def merge(project: Project, jobs: Jobs, body: dict) -> dict:
    adapter = _adapter(project, jobs, body)
    return {"command": jobs.start("merge", [["merge", adapter, "--force"]]).shell_line}


def export(project: Project, jobs: Jobs, body: dict) -> dict:
    adapter = _adapter(project, jobs, body)
    out = f"exports/{Path(adapter).name}.zip"
    return {"command": jobs.start("export", [["export", adapter, "--out", out, "--force"]]).shell_line}
