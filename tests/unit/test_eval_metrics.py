"""eval's figures: normalised WER/CER, silence, speaking rate, built-in texts, and the real speaker encoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from higgs_lora import HiggsLoraError
from higgs_lora.core.texts import BUILTIN_TEXTS, TRAINING_TEXTS, read_texts
from higgs_lora.evaluate import metrics
from tests.helpers import REPO, SMOKE_DATA


def test_error_rates_after_the_stated_normaliser() -> None:
    # Case, punctuation, hyphens and spelled numbers do not count as errors ...
    assert metrics.error_rates("Forty-two apples, please!", "42 apples please") == (0.0, 0.0)
    assert metrics.normalise("Doctor Smith isn't here.") == "doctor smith is not here"
    # ... words do: one substitution in four words; characters against "the cat sat down" (16).
    wer, cer = metrics.error_rates("The cat sat down.", "the cap sat down")
    assert wer == pytest.approx(1 / 4) and cer == pytest.approx(1 / 16)
    assert metrics.error_rates("Hello there.", "")[0] == 1.0  # silence: every word deleted
    # Corpus figures are total edits over total reference words, not a mean of rates.
    wer, _ = metrics.corpus_error_rates(["a b c d", "e"], ["a b c d", "x"])
    assert wer == pytest.approx(1 / 5)
    with pytest.raises(HiggsLoraError, match=r"text '\?!' has no words left after normalisation"):
        metrics.error_rates("?!", "anything")


SPOKEN_OTHERWISE = {
    # Built-in sentence → how an ASR may write the same perfect speech (numbers the other way round).
    "Please call me back after twelve thirty.": "Please call me back after 12:30.",
    "The train leaves at 7:45 from platform 9.": "The train leaves at seven forty-five from platform nine.",
    "She bought 3 apples, 2 pears and 14 oranges.": "She bought three apples, two pears and fourteen oranges.",
    "In 1969, two astronauts walked on the moon for the first time.": (
        "In nineteen sixty-nine, 2 astronauts walked on the moon for the 1st time."
    ),
    "My phone number ends in four, five, six.": "My phone number ends in 4, 5, 6.",
    "Doctor Smith will see you on Monday morning.": "Dr. Smith will see you on Monday morning.",
    "It was a bright cold day in April, and the clocks were striking thirteen.": (
        "It was a bright, cold day in April and the clocks were striking 13."
    ),
    "Turn left at the second light, then keep going straight for about two miles.": (
        "Turn left at the 2nd light, then keep going straight for about 2 miles."
    ),
    "The recipe calls for 250 grams of flour and a pinch of salt.": (
        "The recipe calls for two hundred and fifty grams of flour and a pinch of salt."
    ),
}


def test_perfect_speech_of_every_builtin_sentence_scores_zero() -> None:
    assert set(SPOKEN_OTHERWISE) <= set(BUILTIN_TEXTS)
    for text in BUILTIN_TEXTS:
        assert metrics.error_rates(text, text) == (0.0, 0.0), text
        other = SPOKEN_OTHERWISE.get(text)
        if other is not None:
            # Words or digits, on either side: the same speech scores alike.
            assert metrics.error_rates(text, other) == (0.0, 0.0), (text, other)
            assert metrics.error_rates(other, text) == (0.0, 0.0), (other, text)


def test_a_wrong_number_still_counts() -> None:
    wer, _ = metrics.error_rates(
        "Please call me back after twelve thirty.", "Please call me back after 12:40."
    )
    assert wer == pytest.approx(1 / 6)  # one wrong word of six, not a free pass and not two errors
    wer, _ = metrics.error_rates(
        "My phone number ends in four, five, six.", "My phone number ends in 4, 5, 7."
    )
    assert wer == pytest.approx(1 / 6)
    assert metrics.normalise("In 1969, two astronauts") == metrics.normalise("In 1969, 2 astronauts")


def test_silence_share_counts_quiet_frames() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    half = np.concatenate([tone[: rate // 2], np.zeros(rate // 2)])
    assert metrics.silence_share(half, rate) == pytest.approx(0.5, abs=0.03)
    assert metrics.silence_share(tone, rate) == 0.0
    assert metrics.silence_share(np.zeros(rate), rate) == 1.0
    assert metrics.silence_share(np.zeros(0), rate) == 1.0
    quiet = np.concatenate([tone, tone * 10 ** (-50 / 20)])  # 50 dB down: silence next to the tone
    assert metrics.silence_share(quiet, rate) == pytest.approx(0.5, abs=0.03)


def test_expected_duration_from_the_training_speaking_rate() -> None:
    rate = metrics.speaking_rate(["Hello there.", "A b."], [1.0, 1.0])  # 11 + 3 characters in 2 s
    assert rate == pytest.approx(7.0)
    assert metrics.expected_seconds("Hello there!", rate) == pytest.approx(11 / 7)
    with pytest.raises(HiggsLoraError, match="speaking rate"):
        metrics.speaking_rate([], [])
    assert metrics.mean([1.0, None, 3.0]) == 2.0 and metrics.median([None]) is None


def test_builtin_texts_are_varied_and_scorable(tmp_path) -> None:
    assert len(BUILTIN_TEXTS) == 20 and len(set(BUILTIN_TEXTS)) == 20
    assert sum("?" in text for text in BUILTIN_TEXTS) >= 3
    assert sum(any(c.isdigit() for c in text) for text in BUILTIN_TEXTS) >= 3
    words = sorted(len(text.split()) for text in BUILTIN_TEXTS)
    assert words[0] == 1 and words[-1] >= 25
    assert all(metrics.normalise(text) for text in BUILTIN_TEXTS)
    assert set(TRAINING_TEXTS) <= set(BUILTIN_TEXTS)
    file = tmp_path / "texts.txt"
    file.write_text("# mine\nFirst one.\n\n  Second one.  \n", encoding="utf-8")
    assert read_texts(file) == ["First one.", "Second one."]
    file.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(HiggsLoraError, match="no sentences in it"):
        read_texts(file)
    with pytest.raises(HiggsLoraError, match="file not found"):
        read_texts(tmp_path / "missing.txt")


def test_speaker_encoder_scores_the_same_voice_above_another() -> None:
    """Resemblyzer's shipped weights: held-out smoke clips against the smoke voice score above a second
    espeak-ng voice (data/other-voice, en-us+f3) against it."""
    encoder = metrics.speaker_encoder("resemblyzer")
    smoke = sorted((SMOKE_DATA / "wavs").glob("*.wav"))
    centroid = metrics.voice_centroid(encoder, smoke[:8])
    from higgs_lora.core.audio import load_audio

    def score(path) -> float:
        similarity = metrics.similarity(encoder.embed(load_audio(path, 16000), 16000), centroid)
        assert similarity is not None
        return similarity

    same = [score(path) for path in smoke[8:]]
    other = [score(path) for path in sorted((REPO / "data" / "other-voice").glob("*.flac"))]
    assert len(same) == 4 and len(other) == 4
    assert min(same) > max(other) + 0.1, (same, other)
    assert min(same) > 0.75 and max(other) < 0.8
    assert encoder.embed(np.zeros(800, dtype=np.float32), 16000) is None  # too little to embed
    with pytest.raises(HiggsLoraError, match="choose auto .* wavlm or resemblyzer"):
        metrics.speaker_encoder("ecapa")


def test_eval_table_in_the_recipe(tmp_path) -> None:
    from higgs_lora import RecipeError, load_recipe

    source = (
        (REPO / "recipes" / "smoke.toml").read_text(encoding="utf-8").replace('"../data/smoke"', '"data"')
    )
    recipe = tmp_path / "r.toml"
    recipe.write_text(source + '\n[eval]\nevery_steps = 10\nbest = "wer"\n', encoding="utf-8")
    config = load_recipe(recipe).eval
    assert config.every_steps == 10 and config.best == "wer" and config.texts == list(TRAINING_TEXTS)
    recipe.write_text(source + '\n[eval]\nevery_steps = 10\nbest = "mos"\n', encoding="utf-8")
    with pytest.raises(RecipeError, match=r"r.toml:\d+ \[eval\] best = 'mos': Input should be 'similarity'"):
        load_recipe(recipe)
    no_split = source.replace("eval_fraction = 0.17", "eval_fraction = 0.0")
    recipe.write_text(no_split + '\n[eval]\nevery_steps = 10\nbest = "loss"\n', encoding="utf-8")
    with pytest.raises(
        RecipeError, match=r'\[eval\] best = "loss" needs held-out clips: set \[data\] eval_fraction'
    ):
        load_recipe(recipe)


def test_aggregate_counts_samples_that_never_stopped() -> None:
    from higgs_lora.evaluate.score import Sample, aggregate, failure

    def sample(index: int, stopped: bool, ratio: float, transcript: str, similarity: float | None) -> Sample:
        return Sample(
            "adapter", index, "The cat sat down.", "builtin", f"wavs/adapter/{index:02d}.wav", ratio, stopped,
            1.0, ratio, 0.1, transcript=transcript, similarity=similarity,
        )  # fmt: skip

    samples = [
        sample(0, True, 1.0, "the cat sat down", 0.9),
        sample(1, False, 3.0, "the cat sat down and down and down", 0.5),  # ran to the limit, babbling
        sample(2, True, 0.2, "", None),  # stopped at once: silence, nothing to embed
    ]
    for item in samples:
        item.wer = metrics.error_rates(item.text, item.transcript)[0]
        item.failure = failure(item)
    assert [item.failure for item in samples] == [None, "never stopped", "silent"]
    figures = aggregate("adapter", samples, step=100)
    assert figures.never_stopped == 1 and figures.samples == 3 and figures.step == 100
    assert figures.failures == 2 and figures.duration_off == 2 and figures.duration_ratio == 1.0
    assert figures.wer == pytest.approx((0 + 4 + 4) / 12, abs=1e-4)  # 4 insertions, 4 deletions / 12 words
    # Failing cannot raise the mean: the babble's 0.5 and the silence both score 0.
    assert figures.similarity == pytest.approx(0.9 / 3, abs=1e-4)
    assert "2/3 failed" in figures.headline()
    short = sample(3, True, 0.3, "the cat", 0.8)
    assert failure(short) == "too short"


def test_bootstrap_intervals_say_how_far_a_figure_can_be_trusted() -> None:
    from higgs_lora.evaluate.score import Sample, aggregate, compare

    rng = np.random.default_rng(1)

    def system(name: str, count: int, error_share: float, similarity: float) -> list[Sample]:
        items = []
        for index in range(count):
            wrong = rng.random() < error_share
            item = Sample(
                name, index, f"Sentence number {index} is here.", "builtin", "x.wav", 1.0, True, 1.0, 1.0, 0.1,
                transcript=f"sentence number {index} is {'hear' if wrong else 'here'}",
                similarity=float(similarity + rng.normal(0, 0.05)),
            )  # fmt: skip
            item.wer = metrics.error_rates(item.text, item.transcript)[0]
            items.append(item)
        return items

    few, many = system("adapter", 4, 0.3, 0.8), system("adapter", 80, 0.3, 0.8)
    for items in (few, many):
        figures = aggregate("adapter", items, None)
        assert figures.wer_interval[0] <= figures.wer <= figures.wer_interval[1]
        assert figures.similarity_interval[0] <= figures.similarity <= figures.similarity_interval[1]
    width = lambda f: f.wer_interval[1] - f.wer_interval[0]  # noqa: E731
    assert width(aggregate("a", many, None)) < width(aggregate("a", few, None)) / 2
    # Paired: a system against itself differs by exactly nothing; a clearly better voice beyond noise.
    same = compare(many, many)
    assert same.wer == 0 and same.wer_interval == (0.0, 0.0) and not same.beyond_noise("wer")
    other = system("base", 80, 0.3, 0.5)
    assert compare(many, other).beyond_noise("similarity") and compare(many, other).similarity > 0.2


def test_wavlm_option_embeds_with_a_local_model(tmp_path, monkeypatch) -> None:
    """`--speaker-model wavlm:PATH` plumbing with a tiny random WavLM x-vector model saved locally."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    config = WavLMConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        tdnn_dim=(16, 16, 16, 16, 32), xvector_output_dim=24, num_buckets=32, max_bucket_distance=64,
    )  # fmt: skip
    torch.manual_seed(0)
    WavLMForXVector(config).save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(tmp_path)
    encoder = metrics.speaker_encoder(f"wavlm:{tmp_path}")
    tone = np.sin(2 * np.pi * 200 * np.arange(22050) / 22050).astype(np.float32)
    vector = encoder.embed(tone, 22050)
    assert vector is not None and vector.shape == (24,) and np.linalg.norm(vector) == pytest.approx(1.0)
    assert encoder.embed(tone[:100], 22050) is None
    with pytest.raises(HiggsLoraError, match="cannot load .* whose weights ship with the package"):
        metrics.speaker_encoder(f"wavlm:{tmp_path / 'missing'}")
    # auto: the WavLM verifier where it can be loaded without a download, else resemblyzer, saying why.
    monkeypatch.setattr(metrics, "WAVLM_SV", str(tmp_path))
    assert metrics.speaker_encoder("auto").name == "wavlm"
    monkeypatch.setattr(metrics, "WAVLM_SV", "microsoft/wavlm-base-plus-sv")  # not in this offline cache
    fallback = metrics.speaker_encoder("auto")
    assert fallback.name == "resemblyzer"
    assert "huggingface-cli download microsoft/wavlm-base-plus-sv" in fallback.note


class _SavedModel:
    """Stands in for the PeftModel the Trainer hands callbacks: what `_save_best` uses of it."""

    active_adapter = "default"

    def __init__(self) -> None:
        import types

        self.peft_config = {"default": types.SimpleNamespace(base_model_name_or_path="/local/cache/path")}
        self.saves = 0

    def save_pretrained(self, folder, **kwargs) -> None:
        self.saves += 1
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            (Path(folder) / name).write_text(f"save {self.saves}", encoding="utf-8")


@pytest.mark.parametrize(
    ("best", "values", "kept"),
    [("loss", [3.0, 2.0, 2.5], (2, 2.0)), ("similarity", [0.5, float("nan"), 0.7], (3, 0.7))],
)
def test_eval_callback_keeps_the_best_by_the_chosen_figure(tmp_path, best, values, kept) -> None:
    import json
    import types

    from higgs_lora import load_recipe
    from higgs_lora.evaluate.callback import EvalCallback
    from tests.helpers import smoke_recipe

    extra = f'\n[eval]\nevery_steps = 1\nbest = "{best}"'
    recipe = load_recipe(smoke_recipe(tmp_path, tmp_path / "cache", extra=extra), {"data.eval_fraction": 0.2})
    out = tmp_path / "adapters" / "t"
    callback = EvalCallback(recipe, out, None, None)
    model = _SavedModel()
    state = types.SimpleNamespace(is_world_process_zero=True, global_step=0)
    for step, value in enumerate(values, start=1):
        state.global_step = step
        if best == "loss":
            callback.on_evaluate(None, state, None, model=model, metrics={"eval_loss": value})
        else:
            callback._consider(model, step, value, None)
    record = callback.record()
    assert (record["best_step"], record["best_value"]) == kept and record["best_metric"] == best
    saved = json.loads((out / "best" / "best.json").read_text())
    assert (saved["step"], saved["value"]) == kept
    assert (out / "best" / "adapter_model.safetensors").read_text() == f"save {model.saves}"
    assert model.saves == 2  # written when it improved, never when it did not
    assert model.peft_config["default"].base_model_name_or_path == "tiny-random"  # travels, like the adapter
    assert "[eval]" in (out / "best" / "recipe.toml").read_text()
    # A resumed run starts from the best so far instead of overwriting it with a worse one.
    again = EvalCallback(recipe, out, None, None)
    assert again.best is not None and again.best["step"] == kept[0]


def test_a_step_that_fails_to_speak_never_beats_one_that_speaks(tmp_path) -> None:
    """Selection is gated on stopping and intelligibility before similarity."""
    from higgs_lora import load_recipe
    from higgs_lora.evaluate.callback import EvalCallback, round_line
    from higgs_lora.evaluate.score import SystemFigures
    from tests.helpers import smoke_recipe

    recipe = load_recipe(smoke_recipe(tmp_path, tmp_path / "cache", extra="\n[eval]\nevery_steps = 1"))
    callback = EvalCallback(recipe, tmp_path / "adapters" / "t", None, None)
    model = _SavedModel()

    def figures(step: int, similarity: float, failures: int, wer: float) -> SystemFigures:
        return SystemFigures("adapter", step, 20, wer, wer, similarity, failures, 1.0, 0, 0.1, failures)

    rounds = [
        figures(1, 0.60, 0, 0.05),  # speaks: the first candidate
        figures(2, 0.90, 8, 0.05),  # a better voice on what it said, but 8/20 never stopped
        figures(3, 0.95, 0, 0.60),  # stops, but unintelligible
        figures(4, 0.65, 1, 0.08),  # passes the gate (1/20 ≤ 10 %) and sounds more like the voice
        figures(5, 0.64, 0, 0.04),
    ]
    for item in rounds:
        callback._consider(model, item.step, item.similarity, item)
    assert callback.best["step"] == 4 and model.saves == 2
    assert "not a candidate for best" in round_line(rounds[1], 0.1, 0.2)
    assert "not a candidate" not in round_line(rounds[3], 0.1, 0.2)
    # When no step passes, the least broken one is kept: fewer failures, then lower WER.
    fresh = EvalCallback(recipe, tmp_path / "adapters" / "u", None, None)
    for item in (figures(1, 0.9, 12, 0.3), figures(2, 0.2, 6, 0.9), figures(3, 0.5, 6, 0.5)):
        fresh._consider(model, item.step, item.similarity, item)
    assert fresh.best["step"] == 3 and fresh.best["passed"] is False


def test_the_prompt_clip_is_not_part_of_the_voice_it_is_compared_with(tmp_path) -> None:
    from higgs_lora import load_recipe
    from higgs_lora.evaluate.voice import training_voice
    from tests.helpers import smoke_recipe

    recipe = load_recipe(smoke_recipe(tmp_path, tmp_path / "cache"))
    assert recipe.data.reference == "same_speaker"
    voice = training_voice(recipe, recipe.data_path)
    assert voice.ref_audio is not None and len(voice.clips) >= 4
    assert all(clip.resolve() != voice.ref_audio.resolve() for clip in voice.clips)
    # A data set of the reference alone has no voice left to compare with: said so, not measured on itself.
    only = tmp_path / "one"
    only.mkdir()
    (only / "wavs").mkdir()
    first = next(line for line in (recipe.data_path / "metadata.csv").read_text().splitlines() if line)
    clip = first.split("|")[0]
    shutil.copy(recipe.data_path / "wavs" / f"{clip}.wav", only / "wavs" / f"{clip}.wav")
    (only / "metadata.csv").write_text(first + "\n", encoding="utf-8")
    with pytest.raises(HiggsLoraError, match="the only usable clip is the reference clip"):
        training_voice(recipe, only)
