"""review.html: every clip with an audio player, its transcript (editable) and a drop box.

Rows are rendered here, in Python, so the page lists the clips without JavaScript; the script only
sends edits. A page opened from file:// cannot write files, so saving goes through
`higgs-lora dataset review DIR` (review.py), which serves this same page and accepts the edits.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from higgs_lora.dataset.manifest import read_clip_records, read_edits

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: middle; }
tr.dropped td { background: #fbe9e9; } tr.dropped textarea { text-decoration: line-through; }
textarea { width: 100%; min-width: 20em; height: 2.6em; font: inherit; }
audio { height: 2em; width: 16em; } .num { text-align: right; white-space: nowrap; }
#bar { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 2px solid #888; }
button { font-size: 1em; padding: .3em 1em; } #status { margin-left: 1em; }
"""

SCRIPT = """
const rows = () => Array.from(document.querySelectorAll('tr.clip'));
for (const row of rows()) {
  row.querySelector('input.drop').addEventListener('change', e =>
    row.classList.toggle('dropped', e.target.checked));
}
const status = document.getElementById('status');
const save = document.getElementById('save');
if (location.protocol === 'file:') {
  save.disabled = true;
  status.textContent = 'Read-only: run `higgs-lora dataset review ' + document.body.dataset.root +
    '` and open the address it prints to save edits.';
}
save.addEventListener('click', async () => {
  // Every row's state, so an undone fix or an unticked drop is saved too.
  const edits = {};
  for (const row of rows()) {
    edits[row.dataset.id] = {text: row.querySelector('textarea').value,
                             drop: row.querySelector('input.drop').checked};
  }
  status.textContent = 'saving...';
  const response = await fetch('api/edits', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({edits: edits})});
  const answer = await response.json();
  status.textContent = response.ok ? 'saved: ' + answer.message : 'not saved: ' + answer.error;
});
"""


def render_page(root: Path) -> str:
    """The review page for the data set in `root`, with the user's edits applied to the controls."""
    records = read_clip_records(root)
    edits = read_edits(root)
    report_path = root / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    rows = []
    for number, record in enumerate(records, start=1):
        edit = edits.get(record.id)
        text = edit.text if edit is not None and edit.text is not None else record.text
        dropped = edit is not None and edit.drop
        quality = record.quality
        rows.append(
            f'<tr class="clip{" dropped" if dropped else ""}" data-id="{html.escape(record.id)}">'
            f'<td class="num">{number}</td><td>{html.escape(record.id)}</td>'
            f'<td class="num">{record.seconds:.2f} s</td>'
            f'<td><audio controls preload="none" src="{html.escape(record.audio)}"></audio></td>'
            f"<td><textarea>{html.escape(text)}</textarea></td>"
            f'<td><label><input type="checkbox" class="drop"{" checked" if dropped else ""}> drop</label></td>'
            f'<td class="num">{quality.get("loudness_lufs", 0):.1f} LUFS, SNR {quality.get("snr_db", 0):.0f} dB, '
            f"speech {100 * quality.get('speech_ratio', 0):.0f}%</td></tr>"
        )
    dropped_rows = [
        f"<tr><td>{html.escape(Path(d['source']).name)}</td><td class='num'>{d['start']:.2f}-{d['end']:.2f} s</td>"
        f"<td>{html.escape(d['reason'])}</td><td>{html.escape(d['detail'])}</td><td>{html.escape(d['text'])}</td></tr>"
        for d in report.get("dropped_clips", [])
    ]
    summary = (
        f"{report.get('minutes_in', 0):.1f} min in, {report.get('minutes_kept', 0):.1f} min kept in "
        f"{len(records)} clips; {report.get('dropped', 0)} dropped"
        if report
        else f"{len(records)} clips"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(root.name)}: review</title>
<style>{STYLE}</style></head>
<body data-root="{html.escape(str(root))}">
<h1>{html.escape(root.name)}: {len(records)} clips</h1>
<p>{html.escape(summary)}. Listen, fix a transcript or tick <em>drop</em>, then save: the manifest is rewritten
(dropped clips leave the manifest; their audio stays in wavs/).</p>
<div id="bar"><button id="save">Save edits to the manifest</button><span id="status"></span></div>
<table id="clips"><thead><tr><th>#</th><th>clip</th><th>length</th><th>listen</th><th>transcript</th>
<th></th><th>measured (before normalising)</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Dropped by the build ({len(dropped_rows)})</h2>
<table id="dropped"><thead><tr><th>source</th><th>where</th><th>reason</th><th>detail</th><th>text</th></tr></thead>
<tbody>
{chr(10).join(dropped_rows)}
</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""
