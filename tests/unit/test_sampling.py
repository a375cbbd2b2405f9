"""One set of sampling settings for both backends (`higgs_lora.higgs.sampling`); each backend's tests hold
its speaker to them (tests/e2e/test_boson_sampling.py, tests/native/test_speaker.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.schema import EvalConfig, SamplesConfig
from higgs_lora.higgs.sampling import SAMPLING, Sampling
from tests.helpers import run_cli


def test_the_defaults_are_boson_serve_engines() -> None:
    """HiggsAudioServeEngine.generate's own defaults (serve_engine.py L341-351; checked against the
    installed engine where boson-multimodal is, tests/e2e/test_boson_sampling.py)."""
    assert Sampling(temperature=0.7, top_p=0.95, top_k=None, ras_window=7, ras_max_repeats=2) == SAMPLING


def test_greedy_keeps_nothing_that_draws() -> None:
    greedy = replace(SAMPLING, top_k=50).but(temperature=0.0).effective()
    assert greedy.greedy and (greedy.top_p, greedy.top_k, greedy.ras_window) == (1.0, None, None)
    assert SAMPLING.effective() == SAMPLING


def test_a_call_overrides_only_what_it_gives() -> None:
    assert SAMPLING.but() == SAMPLING
    assert SAMPLING.but(temperature=1.0) == replace(SAMPLING, temperature=1.0)
    assert SAMPLING.but(top_p=0.5).temperature == SAMPLING.temperature


@pytest.mark.parametrize(
    "settings",
    [
        {"temperature": -0.1},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"top_k": 0},
        {"ras_window": 0},
        {"ras_max_repeats": 0},
    ],
)
def test_settings_out_of_range_are_refused(settings: dict) -> None:
    with pytest.raises(HiggsLoraError):
        Sampling(**settings)


def test_every_default_temperature_is_the_shared_one() -> None:
    """The recipe schema sits below the format layer and cannot import it: held equal here."""
    assert SamplesConfig().temperature == EvalConfig().temperature == SAMPLING.temperature


def test_speak_help_says_the_defaults() -> None:
    result = run_cli("speak", "--help", env={"COLUMNS": "1000"})  # one line per option: nothing wrapped
    assert result.returncode == 0, result.stderr
    assert SAMPLING.describe() in result.stdout
    assert "0 = greedy: argmax, no top-p, top-k or RAS" in result.stdout
