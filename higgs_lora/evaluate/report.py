"""What one eval found (`EvalReport`), as JSON and as a one-screen summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from higgs_lora.evaluate.score import Sample, SystemFigures


@dataclass
class EvalReport:
    adapter: Path
    out: Path
    systems: list[SystemFigures]
    samples: list[Sample]
    settings: dict[str, Any] = field(default_factory=dict)

    def figures(self, system: str) -> SystemFigures:
        return next(item for item in self.systems if item.system == system)

    def to_json(self) -> dict[str, Any]:
        return {
            "adapter": str(self.adapter),
            "settings": self.settings,
            "systems": [asdict(item) for item in self.systems],
            "samples": [_json_safe(asdict(item)) for item in self.samples],
        }

    def summary(self) -> str:
        return summary(self)


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """NaN is not JSON: unscored figures become null."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}


def pct(value: float) -> str:
    return f"{value:.1%}"


def sim(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def opt(value: float | None, fmt: str) -> str:
    return format(value, fmt) if value is not None else "n/a"


def headline(adapter: SystemFigures, other: SystemFigures) -> str:
    """'WER 4.1% (base 3.8%), similarity 0.82 (base 0.61), 0/20 never stopped (base 1/20)'."""
    name = other.system
    return (
        f"WER {pct(adapter.wer)} ({name} {pct(other.wer)}), "
        f"similarity {sim(adapter.similarity)} ({name} {sim(other.similarity)}), "
        f"{adapter.never_stopped}/{adapter.samples} never stopped ({name} {other.never_stopped}/{other.samples})"
    )


def summary(report: EvalReport) -> str:
    settings = report.settings
    rows = [("system", "WER", "CER", "similarity", "never stopped", "duration x", "off", "silence")]
    for item in report.systems:
        rows.append(
            (
                item.system,
                pct(item.wer),
                pct(item.cer),
                sim(item.similarity),
                f"{item.never_stopped}/{item.samples}",
                opt(item.duration_ratio, ".2f"),
                str(item.duration_off),
                opt(item.silence_share, ".0%"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(
        [
            f"eval of {report.adapter}: {settings['texts']} sentences ({settings['held_out_texts']} held out), "
            f"seed {settings['seed']}, up to {settings['max_seconds']:g} s each",
            *table,
            headline(report.systems[0], report.systems[1]),
            f"  ASR {settings['asr']} ({settings['language']}); speaker encoder {settings['speaker_model']}; "
            f"duration x: generated / expected at {settings['chars_per_second']:.1f} chars/s",
            f"  → {report.out}/ (index.html to listen, eval.json, metrics.png)",
        ]
    )
