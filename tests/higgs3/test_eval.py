"""`eval` on a Higgs TTS 3 adapter, offline (the v2 version is tests/e2e/test_eval.py): it speaks with the
adapter and the base, transcribes with a tiny random Whisper (plumbing: its text is random letters) and
scores the voice with resemblyzer, so the report must hold figures for both systems."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

import higgs_lora
from higgs_lora.evaluate.report import protocol_lines
from tests.helpers import smoke_recipe

pytestmark = [pytest.mark.backend("higgs3"), pytest.mark.slow]
TEXTS = ["Hello there.", "Is this my voice?"]


def test_eval_reports_adapter_and_base(tmp_path: Path) -> None:
    recipe = smoke_recipe(
        tmp_path,
        tmp_path / "codes",
        train="max_steps = 12\nsave_steps = 6",
        name="judged",
        model='backend = "higgs3"',
        # [eval] while training too (evaluate.callback); its gate is off: the tiny model never stops.
        extra=f"\n[eval]\nevery_steps = 6\ntexts = {json.dumps(TEXTS[:1])}\nmax_seconds = 0.3"
        '\nbest = "similarity"\nmax_failures = 1.0\nmax_wer = 100.0',
    )
    text = recipe.read_text(encoding="utf-8")
    text = text.replace('["attention", "audio_ffn", "heads"]', '["attention", "mlp"]')
    recipe.write_text(text.replace("learning_rate = 3e-3", "learning_rate = 1e-2"), "utf-8")
    adapter = higgs_lora.train(recipe, progress=False).adapter_dir

    history = json.loads((adapter / "metrics.json").read_text())["quality_history"]
    assert [entry["step"] for entry in history] == [6, 12]
    report = higgs_lora.evaluate_adapter(adapter, texts=TEXTS, max_seconds=0.4, progress=False)
    written = json.loads((adapter / "eval" / "eval.json").read_text())
    assert [item["system"] for item in written["systems"]] == ["adapter", "base"]
    assert written["settings"]["asr"] == "tiny-random"
    assert written["settings"]["speaker_model"].startswith("resemblyzer")
    for figures in written["systems"]:
        assert figures["samples"] >= len(TEXTS)
        assert figures["wer"] >= 0 and -1 <= figures["similarity"] <= 1
    samples = written["samples"]
    assert {s["system"] for s in samples} == {"adapter", "base"}
    assert all((adapter / "eval" / s["wav"]).is_file() and s["seconds"] <= 0.4 + 1e-6 for s in samples)
    # The base is spoken without the adapter: seeded alike, the two differ (the codes wholly; the tiny
    # random codec's audio hardly depends on its codes, so the wavs differ only slightly).
    audio = {(s["system"], s["index"]): soundfile.read(str(adapter / "eval" / s["wav"]))[0] for s in samples}
    assert any(not np.array_equal(audio[("adapter", i)], audio[("base", i)]) for i in range(len(TEXTS)))
    assert report.figures("adapter").samples == report.figures("base").samples == len(TEXTS)
    # A public test list's "published" line is v2's base: a higgs3 eval says it has none of its own.
    assert written["settings"]["backend"] == "higgs3"
    listed = replace(report, settings={**report.settings, "protocol": {"name": "seed-tts", "list": "x"}})
    assert (
        "published: none known for Higgs TTS 3; for scale, Higgs Audio v2 base" in protocol_lines(listed)[1]
    )
