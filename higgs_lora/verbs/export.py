"""`export` / `import`: a self-contained, checksummed adapter package (a folder or a .zip).

The package holds the PEFT files (stock PEFT loads the unpacked folder), the model card, the recipe,
metrics and loss curve, and `SHA256SUMS` in `sha256sum` format. Import verifies every checksum before
anything lands in adapters/, and a zip member that would escape the target folder is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from higgs_lora.adapter.files import adapter_config, recipe_value
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.fileio import atomic_path
from higgs_lora.core.licenses import card_section
from higgs_lora.core.schema import NAME_PATTERN
from higgs_lora.higgs.layouts import ADAPTER_CONFIG, ADAPTER_WEIGHTS

CHECKSUMS = "SHA256SUMS"
OPTIONAL_FILES = ("README.md", "recipe.toml", "metrics.json", "loss.png")


class ChecksumError(HiggsLoraError):
    """A package file is missing, unexpected or does not match its recorded SHA-256."""


def export(adapter_dir: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Package `adapter_dir` as the folder or .zip `out`; returns `out`."""
    adapter_dir, out = Path(adapter_dir), Path(out)
    config = adapter_config(adapter_dir)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists. Pass --force to replace it, or choose another --out.")
    out.parent.mkdir(parents=True, exist_ok=True)
    files = [ADAPTER_CONFIG, ADAPTER_WEIGHTS] + [f for f in OPTIONAL_FILES if (adapter_dir / f).is_file()]
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as tmp:
        staging = Path(tmp) / adapter_dir.name
        staging.mkdir()
        for name in files:
            shutil.copy2(adapter_dir / name, staging / name)
        if not (staging / "README.md").is_file():
            base = config.get("base_model_name_or_path")
            (staging / "README.md").write_text(f"# {adapter_dir.name}\n\nLoRA adapter for `{base}`.\n")
        card = staging / "README.md"  # the package carries its base's license terms (Higgs TTS 3)
        section = card_section(recipe_value(adapter_dir, "model", "backend", None))
        if section and "## License" not in card.read_text(encoding="utf-8"):
            card.write_text(card.read_text(encoding="utf-8") + section, encoding="utf-8")
        (staging / CHECKSUMS).write_text(_checksums(staging), encoding="utf-8")
        if out.suffix == ".zip":
            with (
                atomic_path(out) as temporary,
                zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive,
            ):
                for file in sorted(staging.iterdir()):
                    archive.write(file, f"{staging.name}/{file.name}")
        else:
            if out.exists():
                shutil.rmtree(out)
            shutil.move(str(staging), str(out))
    return out


def import_adapter(
    package: str | Path,
    *,
    name: str | None = None,
    adapters_root: str | Path = "adapters",
    force: bool = False,
) -> Path:
    """Verify a package's checksums and install it as adapters/<name>/ (name defaults to the package's)."""
    package = Path(package)
    if not package.exists():
        raise HiggsLoraError(f"{package}: no such package (a .zip or folder made by higgs-lora export).")
    with tempfile.TemporaryDirectory(prefix=".import-") as tmp:
        folder = _unpack(package, Path(tmp)) if package.suffix == ".zip" else package
        verify_checksums(folder)
        target_name = name or (package.stem if package.suffix == ".zip" else package.name)
        if not _valid_name(target_name):
            raise HiggsLoraError(
                f"adapter name {target_name!r}: use letters, digits, '.', '_' and '-' (--name)."
            )
        target = Path(adapters_root) / target_name
        if target.exists() and not force:
            raise OutputExistsError(f"{target} exists. Pass --force to replace it, or --name another name.")
        staging = Path(tempfile.mkdtemp(prefix=f".{target_name}.import-", dir=_mkdir(Path(adapters_root))))
        for file in folder.iterdir():
            shutil.copy2(file, staging / file.name)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    return target


def verify_checksums(folder: str | Path) -> None:
    """Raise `ChecksumError` naming the file unless every file matches `SHA256SUMS` and none is extra."""
    folder = Path(folder)
    listing = folder / CHECKSUMS
    if not listing.is_file():
        raise ChecksumError(f"{folder}: no {CHECKSUMS}; not a package made by higgs-lora export.")
    expected: dict[str, str] = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        digest, _, file_name = line.partition("  ")
        expected[file_name] = digest
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name != CHECKSUMS}
    extra = sorted(present - expected.keys())
    if extra:
        raise ChecksumError(f"{folder / extra[0]}: not listed in {CHECKSUMS}; the package was altered.")
    for file_name, digest in expected.items():
        path = folder / file_name
        if not path.is_file():
            raise ChecksumError(f"{path}: listed in {CHECKSUMS} but missing; the package is incomplete.")
        if _sha256(path) != digest:
            raise ChecksumError(
                f"{path}: SHA-256 does not match {CHECKSUMS}; the file is corrupted or altered."
            )


def _checksums(folder: Path) -> str:
    return "".join(f"{_sha256(p)}  {p.name}\n" for p in sorted(folder.iterdir()) if p.name != CHECKSUMS)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack(archive_path: Path, into: Path) -> Path:
    """Extract a package zip (one top folder, plain files) without letting any member escape `into`."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            tops = {Path(m.filename).parts[0] for m in members}
            for member in members:
                parts = Path(member.filename).parts
                if member.filename.startswith("/") or ".." in parts or len(parts) != 2 or len(tops) != 1:
                    raise ChecksumError(
                        f"{archive_path}: unexpected member {member.filename!r}; refusing it."
                    )
            archive.extractall(into, members)
    except zipfile.BadZipFile as err:
        raise ChecksumError(f"{archive_path}: not a valid zip ({err}).") from None
    return into / tops.pop()


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(NAME_PATTERN, name) is not None


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
