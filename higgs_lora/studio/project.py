"""A studio project: one folder holding everything of one voice, and the only folder the page can reach.

    PROJECT/recordings/<set>/   what the user uploaded or recorded
    PROJECT/data/<set>/         data sets made by `dataset build` (train.jsonl, clips.json, wavs/)
    PROJECT/recipes/<name>.toml recipes; relative paths in them resolve against recipes/ as in the CLI
    PROJECT/adapters/<name>/    what `train` writes (run from PROJECT, the recipes' output_dir)
    PROJECT/listen/             what the Listen tab spoke
    PROJECT/exports/            packages made by `export`
    PROJECT/.studio/            the studio's own notes (the training run's pid and log)

Every path a request names goes through `Project.confine`, which refuses anything that resolves
outside the folder (`..`, absolute paths, symbolic links pointing out).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.schema import NAME_PATTERN

FOLDERS = ("recordings", "data", "recipes", "adapters", "listen", "exports", ".studio")


class OutsideProject(HiggsLoraError):
    """A request named a path outside the project folder."""


class Project:
    """The project folder `root` (created with its sub-folders if need be)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise HiggsLoraError(f"{self.root}: not a folder; give a project folder (it is created if new).")
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def confine(self, relative: str) -> Path:
        """`relative` resolved inside the project; OutsideProject if it would leave it."""
        if not isinstance(relative, str) or not relative or "\0" in relative:
            raise OutsideProject("no path given")
        candidate = Path(relative)
        resolved = (self.root / candidate).resolve()
        if candidate.is_absolute() or not resolved.is_relative_to(self.root):
            raise OutsideProject(f"{relative!r} is outside the project folder {self.root}; refused.")
        return resolved

    def relative(self, path: Path) -> str:
        return str(path.resolve().relative_to(self.root))

    @staticmethod
    def check_name(name: object, what: str) -> str:
        """A data set, recipe or adapter name: letters, digits, '.', '_', '-' (no folders)."""
        if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
            raise HiggsLoraError(
                f"{what} name {name!r}: use letters, digits, '.', '_' or '-' (up to 100, no spaces or '/')."
            )
        return name

    def datasets(self) -> list[dict]:
        """Built data sets (a clips.json from `dataset build`) with their clip counts."""
        found = []
        for folder in sorted((self.root / "data").iterdir()):
            clips = folder / "clips.json"
            if clips.is_file():
                manifest = folder / "train.jsonl"
                kept = len(manifest.read_text(encoding="utf-8").splitlines()) if manifest.is_file() else 0
                found.append({"name": folder.name, "path": self.relative(folder), "clips": kept})
        return found

    def recordings(self) -> list[dict]:
        return [
            {"name": folder.name, "files": sorted(p.name for p in folder.iterdir() if p.is_file())}
            for folder in sorted((self.root / "recordings").iterdir())
            if folder.is_dir()
        ]

    def recipes(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "recipes").glob("*.toml"))

    def recipe_path(self, name: str) -> Path:
        return self.root / "recipes" / f"{self.check_name(name, 'recipe')}.toml"

    def adapters(self) -> list[dict]:
        """Every adapter folder: finished ones with their figures, unfinished ones with their checkpoints."""
        found = []
        for folder in sorted((self.root / "adapters").iterdir()):
            if not folder.is_dir():
                continue
            metrics = folder / "metrics.json"
            figures = json.loads(metrics.read_text(encoding="utf-8")) if metrics.is_file() else {}
            found.append(
                {
                    "name": folder.name,
                    "finished": (folder / "adapter_model.safetensors").is_file(),
                    "steps": figures.get("steps"),
                    "final_loss": figures.get("final_loss"),
                    "checkpoints": sorted(
                        (p.name for p in (folder / "checkpoints").glob("checkpoint-*")),
                        key=lambda n: int(n.rsplit("-", 1)[1]) if n.rsplit("-", 1)[1].isdigit() else 0,
                    ),
                }
            )
        return found

    def listing(self) -> dict:
        return {
            "root": str(self.root),
            "recordings": self.recordings(),
            "datasets": self.datasets(),
            "recipes": self.recipes(),
            "adapters": self.adapters(),
        }
