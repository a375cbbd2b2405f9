"""Fixtures the two environments' suites leave each other (`HIGGS_LORA_CROSS_DIR`, set by `.ci/run`)."""

from __future__ import annotations

from pathlib import Path

import pytest


def written_by_the_other_suite(folder: Path) -> Path:
    """`folder`, or a skip naming which suite writes it (CI runs that one first)."""
    if not (folder / "done").is_file():
        pytest.skip(f"{folder} is written by the other environment's suite (CI: .ci/run runs it first)")
    return folder
