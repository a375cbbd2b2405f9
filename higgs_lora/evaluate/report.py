"""What one eval found (`EvalReport`), as JSON and as a one-screen summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from higgs_lora.evaluate.score import Difference, Sample, SystemFigures, compare


@dataclass
class EvalReport:
    adapter: Path
    out: Path
    systems: list[SystemFigures]
    samples: list[Sample]
    settings: dict[str, Any] = field(default_factory=dict)

    def figures(self, system: str) -> SystemFigures:
        return next(item for item in self.systems if item.system == system)

    def difference(self) -> Difference:
        """The adapter minus what it is compared with (the base, or --against), paired by sentence."""
        first, second = (item.system for item in self.systems[:2])
        language = self.settings.get("language", "en")
        return compare(self._of(first), self._of(second), language)

    def _of(self, system: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.system == system]

    def to_json(self) -> dict[str, Any]:
        return {
            "adapter": str(self.adapter),
            "settings": self.settings,
            "systems": [asdict(item) for item in self.systems],
            "difference": asdict(self.difference()),
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


def interval(pair: tuple[float, float] | None, fmt: str) -> str:
    return f"[{format(pair[0], fmt)}, {format(pair[1], fmt)}]" if pair is not None else ""


def headline(adapter: SystemFigures, other: SystemFigures) -> str:
    """'WER 4.1% (base 3.8%), similarity 0.82 (base 0.61), 0/20 failed (base 1/20)'."""
    name = other.system
    return (
        f"WER {pct(adapter.wer)} ({name} {pct(other.wer)}), "
        f"similarity {sim(adapter.similarity)} ({name} {sim(other.similarity)}), "
        f"{adapter.failures}/{adapter.samples} failed ({name} {other.failures}/{other.samples})"
    )


def difference_line(diff: Difference) -> str:
    """'adapter − base: WER −1.2 points [−3.0, +0.5] (within noise), similarity +0.21 [+0.15, +0.27]'."""
    parts = []
    for name, value, pair, scale, unit in (
        ("WER", diff.wer, diff.wer_interval, 100, " points"),
        ("similarity", diff.similarity, diff.similarity_interval, 1, ""),
    ):
        fmt = "+.1f" if scale == 100 else "+.2f"
        noise = "" if diff.beyond_noise(name.lower()) else " (within noise)"
        parts.append(
            f"{name} {format(value * scale, fmt)}{unit} "
            f"[{format(pair[0] * scale, fmt)}, {format(pair[1] * scale, fmt)}]{noise}"
        )
    return f"{diff.system} − {diff.other}: " + ", ".join(parts)


def protocol_lines(report: EvalReport) -> list[str]:
    """For a public test list: its figures as the field prints them, beside the published ones."""
    protocol = report.settings.get("protocol")
    if not protocol:
        return []
    from higgs_lora.evaluate.protocol import PUBLISHED

    figures = [
        f"{item.system} WER {item.wer * 100:.2f}, SIM {item.similarity * 100:.2f}"
        if item.similarity is not None
        else f"{item.system} WER {item.wer * 100:.2f}"
        for item in report.systems
    ]
    published = PUBLISHED[protocol["name"]]
    if report.settings.get("backend") == "higgs3":  # the published figures are v2's: not this model's base
        published = f"none known for Higgs TTS 3; for scale, {published}"
    return [
        f"  {protocol['name']} ({protocol['list']}): " + "; ".join(figures),
        f"  published: {published} (their SIM: WavLM-large + ECAPA-TDNN verifier; ours: "
        f"{report.settings['speaker_model']}, so compare SIM between our own runs)",
    ]


def summary(report: EvalReport) -> str:
    settings = report.settings
    rows = [
        ("system", "WER", "95 % interval", "CER", "similarity", "95 % interval", "failed", "never stopped",
         "duration x", "off", "silence"),
    ]  # fmt: skip
    for item in report.systems:
        rows.append(
            (
                item.system,
                pct(item.wer),
                interval(item.wer_interval, ".1%"),
                pct(item.cer),
                sim(item.similarity),
                interval(item.similarity_interval, ".2f"),
                f"{item.failures}/{item.samples}",
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
            "  " + difference_line(report.difference()),
            *protocol_lines(report),
            "  failed: never stopped, silent or under half the expected length (similarity 0); intervals: "
            "95 % bootstrap over the sentences",
            f"  ASR {settings['asr']} ({settings['language']}); speaker encoder {settings['speaker_model']}; "
            f"duration x: generated / expected at {settings['chars_per_second']:.1f} chars/s",
            f"  → {report.out}/ (index.html to listen, eval.json, metrics.png)",
        ]
    )
