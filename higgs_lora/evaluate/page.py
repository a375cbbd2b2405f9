"""What eval shows people beyond the summary: a plot of the figures per checkpoint, and an HTML page
to listen to every system side by side with its figures."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from higgs_lora.core.fileio import atomic_path, write_text_atomic
from higgs_lora.evaluate.report import difference_line, headline, interval, opt, pct, sim

if TYPE_CHECKING:
    from higgs_lora.evaluate.report import EvalReport
    from higgs_lora.evaluate.score import Sample


def plot_figures(report: EvalReport, target: Path) -> Path:
    """WER, similarity and never-stopped share against training step: checkpoints and the final adapter
    as points on a line, the comparison system as a dashed level."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    trained = sorted(
        (item for item in report.systems if item.step is not None), key=lambda item: item.step or 0
    )
    others = [item for item in report.systems if item.step is None]
    panels = [
        ("WER", lambda item: item.wer * 100, "%"),
        ("speaker similarity", lambda item: item.similarity, "cosine"),
        ("failed", lambda item: 100 * item.failures / max(item.samples, 1), "% of samples"),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=100)
    for axis, (title, value, unit) in zip(axes, panels, strict=True):
        points = [(item.step, value(item)) for item in trained if value(item) is not None]
        if points:
            axis.plot([p[0] for p in points], [p[1] for p in points], "o-", color="tab:blue", label="adapter")
        for index, item in enumerate(others):
            if value(item) is not None:
                axis.axhline(value(item), linestyle="--", color=f"C{index + 1}", label=item.system)
        axis.set_title(title)
        axis.set_xlabel("training step")
        axis.set_ylabel(unit)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"higgs-lora eval: {report.adapter.name}")
    figure.tight_layout()
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return target


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 6px 8px; vertical-align: top; text-align: left; }
th { background: #f0f3f7; }
td.text { max-width: 22em; }
.fig { font-size: 0.85em; color: #444; }
.bad { color: #b00020; font-weight: bold; }
audio { width: 220px; }
"""


def write_page(report: EvalReport, target: Path) -> Path:
    """index.html beside the WAVs: aggregates, the plot, then one row per sentence with a player and
    the figures of every system side by side."""
    systems = [item.system for item in report.systems]
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>eval: {esc(report.adapter.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Is the voice any good? {esc(report.adapter.name)}</h1>",
        f'<p id="headline">{esc(headline(report.systems[0], report.systems[1]))}</p>',
        f'<p id="difference">{esc(difference_line(report.difference()))}</p>',
        '<table id="aggregates"><tr><th>system</th><th>WER [95 %]</th><th>CER</th><th>similarity [95 %]</th>'
        "<th>failed</th><th>never stopped</th><th>duration ratio (median)</th><th>silence</th></tr>",
    ]
    for item in report.systems:
        parts.append(
            f'<tr class="system" data-system="{esc(item.system)}"><td>{esc(item.system)}</td>'
            f"<td>{pct(item.wer)} {interval(item.wer_interval, '.1%')}</td><td>{pct(item.cer)}</td>"
            f"<td>{sim(item.similarity)} {interval(item.similarity_interval, '.2f')}</td>"
            f"<td>{item.failures}/{item.samples}</td>"
            f"<td>{item.never_stopped}/{item.samples}</td><td>{opt(item.duration_ratio, '.2f')}</td>"
            f"<td>{opt(item.silence_share, '.0%')}</td></tr>"
        )
    parts += [
        "</table>",
        '<img id="plot" src="metrics.png" alt="figures per checkpoint" width="900">',
        f"<p class=fig>{esc(_method(report))}</p>",
        '<table id="samples"><tr><th>#</th><th>text</th>'
        + "".join(f"<th>{esc(name)}</th>" for name in systems)
        + "</tr>",
    ]
    by_key = {(s.system, s.index): s for s in report.samples}
    indices = sorted({s.index for s in report.samples})
    for index in indices:
        first = by_key[(systems[0], index)]
        cells = "".join(_cell(by_key[(name, index)]) for name in systems)
        parts.append(
            f"<tr><td>{index}</td><td class=text>{esc(first.text)}<div class=fig>{esc(first.source)}</div>"
            f"</td>{cells}</tr>"
        )
    parts += ["</table>", "</body></html>", ""]
    write_text_atomic(target, "\n".join(parts))
    return target


def _cell(sample: Sample) -> str:
    esc = html.escape
    stopped = "stopped" if sample.failure is None else f'<span class="bad">{esc(sample.failure)}</span>'
    wer = "n/a" if sample.wer != sample.wer else pct(sample.wer)
    return (
        f'<td class="sample"><audio controls preload="none" src="{esc(sample.wav)}"></audio>'
        f"<div class=fig>WER {wer} · similarity {sim(sample.similarity)} · "
        f"{sample.seconds:.1f} s of {sample.expected_seconds:.1f} s expected · {stopped} · "
        f"silence {sample.silence_share:.0%}</div>"
        f"<div class=fig>heard: “{esc(sample.transcript)}”</div></td>"
    )


def _compared_with(settings: dict) -> str:
    if settings.get("protocol"):
        return f"to each sentence's own prompt clip ({settings['protocol']['name']} protocol)"
    return f"to the centroid of {len(settings['voice_clips'])} training clips (never the prompt clip)"


def _method(report: EvalReport) -> str:
    s = report.settings
    return (
        f"Seed {s['seed']} + sentence number, temperature {s['temperature']}, at most {s['max_seconds']:g} s. "
        f"WER/CER: {s['asr']} transcripts against the text, both through {s['normaliser']}; corpus figures "
        f"are total edits over total reference words. Similarity: cosine of {s['speaker_model']} embeddings "
        f"{_compared_with(s)}. Expected "
        f"duration: {s['chars_per_second']:.1f} normalised characters per second, the training clips' rate; "
        "a sentence is given up at twice that plus 1 s. Failed: never stopped, silent, or under half the "
        "expected length; a failure scores 0 similarity. Intervals: 95 % bootstrap over the sentences."
    )
