"""`higgs-lora eval` end to end on the tiny model, and the stopping signal it relies on."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import load_file

import higgs_lora
from higgs_lora import HiggsLoraError
from higgs_lora.backends.tiny import build_tiny_text_tokenizer
from tests.helpers import installed_backend, run_cli, smoke_recipe


@contextlib.contextmanager
def eos_logit(model, value: float, after_frames: int = 0) -> Iterator[None]:
    """Set the audio head's stream-EOS logit to `value` (-inf: never stops) from frame `after_frames` on."""
    eos = model.config.audio_stream_eos_id
    frames = [0]

    def hook(module, args, kwargs, output):
        if output.audio_logits is not None and output.audio_logits.numel():
            frames[0] += 1
            output.audio_logits[..., eos] = value if frames[0] > after_frames else float("-inf")
        return output

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def tiny_speaker():
    backend = installed_backend()
    model = backend.load_base_model(str(backend.tiny_model_dir()), None, torch_dtype=torch.float32).eval()
    return higgs_lora.make_speaker(model, build_tiny_text_tokenizer(), backend.tiny_audio_tokenizer())


# The hook reads boson's generation outputs (`audio_logits` per step); the native backend's stopping is
# tested by overfitting a clip until greedy generation replays it and stops (tests/native/test_overfit.py).
@pytest.mark.backend("boson")
def test_speech_says_whether_generation_stopped(tiny_speaker) -> None:
    model = tiny_speaker.model
    with eos_logit(model, float("-inf")):  # a model that never emits EOS runs into the limit
        endless = tiny_speaker("Hello there.", seed=1, max_seconds=0.5)
    assert not endless.stopped and endless.seconds == pytest.approx(0.5)
    with eos_logit(model, 1e4, after_frames=10):  # EOS wins from the 11th frame on
        stopped = tiny_speaker("Hello there.", seed=1, max_seconds=0.5)
    assert stopped.stopped and 0 < stopped.seconds < 0.5
    with eos_logit(model, 1e4):  # stops at once: no frames, silence rather than a decoder crash
        silent = tiny_speaker("Hello there.", seed=1, max_seconds=0.5)
    assert silent.stopped and silent.audio.size == 0 and np.isfinite(silent.audio).all()


# The whole path on the tiny model: training with [eval] keeps the best adapter; `higgs-lora eval`
# speaks with the adapter, the base and each checkpoint, transcribes with a tiny random Whisper
# (plumbing: its text is random letters) and scores with the real speaker encoder.

TEXTS = ["Hello there.", "Is this really my voice?"]


SPEAKERS_BUILT: list[int] = []


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, codes_cache_dir: Path) -> Path:
    """Training with [eval] and [samples] both on: they share one Speaker (one set of KV caches)."""
    from unittest import mock

    folder = tmp_path_factory.mktemp("judged")
    recipe = smoke_recipe(
        folder,
        codes_cache_dir,
        train="max_steps = 4\nsave_steps = 2",
        # The gate (stopping, WER) is off here: the tiny model never stops; the unit tests cover the gate.
        extra=f'\n[eval]\nevery_steps = 2\ntexts = {json.dumps(TEXTS)}\nmax_seconds = 0.4\nbest = "similarity"'
        "\nmax_failures = 1.0\nmax_wer = 100.0"
        '\n\n[samples]\ntexts = ["Hi."]\nevery_steps = 2\nmax_seconds = 0.3',
        name="judged",
    )
    speech_module = importlib.import_module("higgs_lora.backends.speech")  # where TrainingSpeaker builds
    build = speech_module.make_speaker

    def counted(*args, **kwargs):
        SPEAKERS_BUILT.append(1)
        return build(*args, **kwargs)

    with mock.patch.object(speech_module, "make_speaker", counted):
        return higgs_lora.train(recipe, progress=False).adapter_dir


@pytest.mark.slow
def test_samples_and_eval_share_one_speaker_while_training(trained: Path) -> None:
    assert (trained / "samples" / "step-4" / "00.wav").is_file()
    assert len(SPEAKERS_BUILT) == 1


@pytest.fixture(scope="module")
def evaluated(trained: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    texts = trained.parent / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    result = run_cli("eval", str(trained), "--texts", str(texts), "--checkpoints", "--max-seconds", "0.4")
    return trained / "eval", result


@pytest.mark.slow
def test_training_keeps_the_best_adapter(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    history = metrics["quality_history"]
    assert [entry["step"] for entry in history] == [2, 4]
    similarities = {entry["step"]: entry["similarity"] for entry in history}
    assert metrics["best_metric"] == "similarity"
    assert metrics["best_step"] == max(similarities, key=similarities.get)
    assert metrics["best_value"] == pytest.approx(max(similarities.values()))
    best = trained / "best"
    record = json.loads((best / "best.json").read_text())
    assert record["step"] == metrics["best_step"] and record["metric"] == "similarity"
    assert {"adapter_config.json", "adapter_model.safetensors", "recipe.toml"} <= {
        p.name for p in best.iterdir()
    }
    # The saved best is the adapter as it was at that step: the checkpoint of the same step.
    checkpoint = load_file(
        str(trained / "checkpoints" / f"checkpoint-{record['step']}" / "adapter_model.safetensors")
    )
    saved = load_file(str(best / "adapter_model.safetensors"))
    assert saved.keys() == checkpoint.keys() and all(torch.equal(saved[k], checkpoint[k]) for k in saved)
    card = (trained / "README.md").read_text()
    assert f"| best checkpoint ([eval] best = similarity) | step {record['step']}" in card
    assert json.loads((best / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-random"


@pytest.mark.slow
def test_eval_command_writes_figures_for_every_system(evaluated) -> None:
    out, result = evaluated
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WER " in result.stdout and "(base " in result.stdout and "never stopped" in result.stdout
    report = json.loads((out / "eval.json").read_text())
    systems = [item["system"] for item in report["systems"]]
    assert systems == ["adapter", "base", "step-2", "step-4"]
    assert len(report["samples"]) == 4 * len(TEXTS)
    for sample in report["samples"]:
        wav = out / sample["wav"]
        assert soundfile.info(str(wav)).frames / 16000 == pytest.approx(sample["seconds"], abs=1e-3)
        assert sample["wer"] >= 0 and 0 <= sample["silence_share"] <= 1
        assert bool(sample["transcript"]) == (sample["seconds"] >= 0.1)  # shorter: not transcribed
        assert -1 <= sample["similarity"] <= 1 and sample["seconds"] <= 0.4 + 1e-6
        assert sample["duration_ratio"] == pytest.approx(
            sample["seconds"] / sample["expected_seconds"], rel=0.01
        )
    by = {(s["system"], s["index"]): s for s in report["samples"]}
    # The final adapter is step 4's checkpoint: same seeded audio. The base speaks differently.
    assert all(by[("adapter", i)]["seconds"] == by[("step-4", i)]["seconds"] for i in range(len(TEXTS)))
    assert all(
        np.array_equal(
            soundfile.read(str(out / by[("adapter", i)]["wav"]))[0],
            soundfile.read(str(out / by[("step-4", i)]["wav"]))[0],
        )
        for i in range(len(TEXTS))
    )
    assert any(
        not np.array_equal(
            soundfile.read(str(out / by[("adapter", i)]["wav"]))[0],
            soundfile.read(str(out / by[("base", i)]["wav"]))[0],
        )
        for i in range(len(TEXTS))
    )
    adapter = report["systems"][0]
    assert adapter["never_stopped"] == sum(not by[("adapter", i)]["stopped"] for i in range(len(TEXTS)))
    assert report["settings"]["asr"] == "tiny-random"
    # auto: WavLM is not downloaded here (offline), so resemblyzer scored, and the report says why.
    assert report["settings"]["speaker_model"].startswith("resemblyzer (microsoft/wavlm-base-plus-sv is not")
    assert "speaker encoder resemblyzer (" in result.stdout
    assert "adapter − base: WER" in result.stdout and "95 %" in result.stdout
    assert report["difference"]["other"] == "base" and len(report["difference"]["wer_interval"]) == 2
    for figures in report["systems"]:
        low, high = figures["wer_interval"]
        assert low <= figures["wer"] <= high and figures["failures"] <= figures["samples"]
    assert (out / "metrics.png").stat().st_size > 10_000


@pytest.mark.slow
def test_eval_page_in_headless_chromium(evaluated, tmp_path: Path) -> None:
    out, result = evaluated
    assert result.returncode == 0, result.stderr[-3000:]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        assert not os.environ.get("CI"), "CI installs chromium (.ci/run)"
        pytest.skip("chromium is not installed")
    flags = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000", "--virtual-time-budget=3000",
    ]  # fmt: skip
    page = (out / "index.html").as_uri()
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<audio") == 4 * len(TEXTS)
    assert all(f'data-system="{name}"' in dom for name in ("adapter", "base", "step-2", "step-4"))
    assert 'id="headline"' in dom and "similarity" in dom and 'src="metrics.png"' in dom
    shot = tmp_path / "page.png"
    subprocess.run([*flags, f"--screenshot={shot}", page], capture_output=True, timeout=120, check=True)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert pixels.std() > 20  # not a blank page
    plot_blue = np.all(np.abs(pixels.astype(int) - (31, 119, 180)) < 12, axis=1).sum()
    assert plot_blue > 50  # the metrics plot (matplotlib's tab:blue line) was rendered


@pytest.mark.slow
def test_adapters_listing_shows_the_eval_headline(evaluated, capsys: pytest.CaptureFixture[str]) -> None:
    from higgs_lora.cli import main

    out, _ = evaluated
    figures = json.loads((out / "eval.json").read_text())["systems"][0]
    assert main(["adapters", "--adapters-dir", str(out.parent.parent)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "eval (WER, similarity, never stopped)" in table[0]
    assert (
        f"{figures['wer']:.1%}, {figures['similarity']:.2f}, {figures['never_stopped']}/2 never stopped"
        in table[1]
    )


@pytest.mark.slow
def test_eval_refuses_bad_input(evaluated, tmp_path: Path) -> None:
    out, _ = evaluated
    adapter = out.parent
    again = run_cli("eval", str(adapter))
    assert again.returncode == 2 and "eval exists from an earlier eval. Pass --force" in again.stderr
    assert "Traceback" not in again.stderr
    missing = run_cli("eval", str(tmp_path))
    assert missing.returncode == 2 and "no adapter_config.json" in missing.stderr
    with pytest.raises(HiggsLoraError, match="--texts .*file not found"):
        higgs_lora.evaluate_adapter(adapter, texts=tmp_path / "none.txt", force=True)
    with pytest.raises(HiggsLoraError, match="--against .*: no adapter_config.json"):
        higgs_lora.evaluate_adapter(adapter, against=str(tmp_path), force=True)
    with pytest.raises(HiggsLoraError, match="training data .* not found .* --data"):
        higgs_lora.evaluate_adapter(adapter, data=tmp_path / "moved", force=True)
    best = adapter / "best"  # a complete adapter, but without checkpoints or metrics.json
    with pytest.raises(HiggsLoraError, match="--checkpoints: no complete checkpoint in"):
        higgs_lora.evaluate_adapter(best, checkpoints=True, data=adapter.parent.parent / "smoke-data")
    assert not (best / "eval").exists()
    assert (out / "eval.json").is_file()  # nothing above touched the earlier eval


@pytest.mark.slow
def test_eval_on_a_seed_tts_list_clones_each_prompt_and_compares_with_it(
    trained: Path, tmp_path: Path
) -> None:
    from higgs_lora.core.audio import load_audio
    from higgs_lora.evaluate import metrics

    adapter = tmp_path / "judged"
    shutil.copytree(trained, adapter, ignore=shutil.ignore_patterns("eval", "checkpoints", "samples", "best"))
    data = trained.parent.parent / "smoke-data"
    rows = [line.split("|") for line in (data / "metadata.csv").read_text().splitlines()[:3]]
    lists = tmp_path / "seedtts" / "en"
    (lists / "prompt-wavs").mkdir(parents=True)
    lines = []
    for clip, text, _ in rows:
        shutil.copy(data / "wavs" / f"{clip}.wav", lists / "prompt-wavs" / f"{clip}.wav")
        lines.append(f"u_{clip}|{text}|prompt-wavs/{clip}.wav|Please call me back after twelve thirty.")
    meta = lists / "meta.lst"
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("eval", str(adapter), "--protocol", "seed-tts", str(meta), "--max-seconds", "0.4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"seed-tts ({meta}): adapter WER" in result.stdout
    assert "published: Higgs Audio v2 base, Seed-TTS-eval English: WER 2.44, SIM 67.70" in result.stdout
    report = json.loads((adapter / "eval" / "eval.json").read_text())
    assert report["settings"]["protocol"] == {"name": "seed-tts", "list": str(meta)}
    assert report["settings"]["held_out_texts"] == 0 and len(report["samples"]) == 2 * len(rows)
    encoder = metrics.speaker_encoder("resemblyzer")
    for sample in report["samples"]:
        prompt = lists / "prompt-wavs" / f"{rows[sample['index']][0]}.wav"
        assert sample["prompt"] == str(prompt.resolve()) and sample["source"] == "seed-tts"
        # Similarity is to the sentence's own prompt clip, not to a voice centroid.
        spoken = encoder.embed(load_audio(adapter / "eval" / sample["wav"], 16000), 16000)
        wanted = metrics.similarity(spoken, encoder.embed(load_audio(prompt, 16000), 16000))
        assert sample["similarity"] == pytest.approx(wanted, abs=0.02)
    # A bad list is refused line by line, before any model loads; nothing of the eval is touched.
    meta.write_text(lines[0] + "\nu_2|only three|fields\nu_3|t|missing.wav|Hello.\n", encoding="utf-8")
    with pytest.raises(
        HiggsLoraError, match=r"meta.lst:2: 3 fields.*meta.lst:3: prompt wav missing.wav not found"
    ):
        higgs_lora.evaluate_adapter(adapter, protocol=("seed-tts", meta), force=True)
    with pytest.raises(HiggsLoraError, match="--protocol brings its own sentences"):
        higgs_lora.evaluate_adapter(adapter, protocol=("seed-tts", meta), texts=["Hi."], force=True)
    with pytest.raises(HiggsLoraError, match="known protocols are seed-tts"):
        higgs_lora.evaluate_adapter(adapter, protocol=("librispeech", meta), force=True)
    assert (adapter / "eval" / "eval.json").is_file()
