"""The build's account of itself: minutes in and kept, clips, what was dropped and why.

`report.json` holds only results (no times or paths of temporary files), so an interrupted and
resumed build writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.dataset.manifest import MANIFEST, ClipRecord


@dataclass(frozen=True)
class Dropped:
    """A stretch of a recording (or a whole file) that did not become a clip."""

    source: str
    start: float
    end: float
    reason: str
    """bad_input, too_short, too_long, no_text, too_quiet, clipped, non_speech, noisy, duplicate."""
    detail: str
    text: str = ""
    quality: dict[str, float] | None = None


@dataclass
class BuildReport:
    root: Path
    inputs: int
    seconds_in: float
    seconds_kept: float
    clips: int
    dropped: list[Dropped]
    notes: list[str] = field(default_factory=list)
    resumed_inputs: int = 0

    def as_dict(self) -> dict[str, Any]:
        by_reason: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "minutes": 0.0})
        for item in self.dropped:
            by_reason[item.reason]["count"] += 1
            by_reason[item.reason]["minutes"] += (item.end - item.start) / 60
        return {
            "inputs": self.inputs,
            "minutes_in": round(self.seconds_in / 60, 3),
            "minutes_kept": round(self.seconds_kept / 60, 3),
            "clips": self.clips,
            "dropped": len(self.dropped),
            "dropped_by_reason": {
                reason: {"count": int(v["count"]), "minutes": round(v["minutes"], 3)}
                for reason, v in sorted(by_reason.items())
            },
            "notes": self.notes,
            "dropped_clips": [asdict(item) for item in self.dropped],
        }

    def summary(self) -> str:
        kept = 100 * self.seconds_kept / self.seconds_in if self.seconds_in else 0.0
        reasons = Counter(item.reason for item in self.dropped)
        dropped = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "nothing"
        resumed = f" ({self.resumed_inputs} already done by an earlier run)" if self.resumed_inputs else ""
        lines = [
            f"{self.root}: {self.inputs} inputs{resumed}, {self.seconds_in / 60:.1f} min in → "
            f"{self.seconds_kept / 60:.1f} min kept ({kept:.0f}%) in {self.clips} clips",
            f"dropped: {dropped}",
        ]
        lines += [f"note: {note}" for note in self.notes]
        for item in self.dropped:
            if item.reason == "bad_input":
                lines.append(f"skipped {item.source}: {item.detail}")
        lines.append(
            f"report: {self.root / 'report.json'}; listen and fix: higgs-lora dataset review {self.root}"
        )
        return "\n".join(lines)


def finish_report(
    root: Path,
    records: list[ClipRecord],
    dropped: list[Dropped],
    notes: list[str],
    seconds_in: float,
    inputs: int,
) -> BuildReport:
    """Write report.json and review.html for a finished build."""
    from higgs_lora.dataset.page import render_page

    report = BuildReport(
        root=root,
        inputs=inputs,
        seconds_in=seconds_in,
        seconds_kept=sum(r.seconds for r in records),
        clips=len(records),
        dropped=dropped,
        notes=notes,
    )
    write_text_atomic(root / "report.json", json.dumps(report.as_dict(), indent=1, ensure_ascii=False))
    write_text_atomic(root / "review.html", render_page(root))
    return report


def manifest_name(root: Path) -> str:
    return next((name for name in MANIFEST.values() if (root / name).is_file()), MANIFEST["jsonl"])
