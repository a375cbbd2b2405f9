"""boson-multimodal's `prepare_chatml_sample` swallows its failures: every call site raises instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from higgs_lora.core.errors import DataError


def test_a_conversation_boson_cannot_tokenize_is_a_clear_error_at_every_call_site(
    tmp_path: Path, text_tokenizer
) -> None:
    """boson's prepare_chatml_sample prints and returns four Nones on any failure: the dataset (both
    encoding and length bucketing), speak's prompt and merge's probe all raise a DataError instead of
    failing later on a None."""
    from unittest import mock

    from higgs_lora.backends.boson import BACKEND
    from higgs_lora.backends.boson import samples as boson_samples
    from higgs_lora.backends.boson.collate import probe_batch
    from higgs_lora.backends.boson.speaker import Speaker
    from higgs_lora.backends.boson.tiny import tiny_config
    from higgs_lora.data import samples
    from tests.helpers import synthetic_samples

    synthetic_samples(tmp_path, text_tokenizer)  # writes target1.safetensors
    example = samples.Example("Say this.", tmp_path / "target1.safetensors")
    dataset = samples.SpeechDataset(
        [example], text_tokenizer, "Generate audio following instruction.", BACKEND
    )
    speaker = Speaker.__new__(Speaker)  # only its prompt building is exercised
    speaker.text_tokenizer, speaker.system_prompt = text_tokenizer, "Generate audio following instruction."
    calls = {
        "encode": lambda: dataset[0],
        "length bucketing": lambda: dataset.lengths(4),
        "speak": lambda: speaker._inputs("Hello.", None, None),
        "merge probe": lambda: probe_batch(tiny_config(), text_tokenizer, "cpu"),
    }
    with mock.patch.object(boson_samples, "prepare_chatml_sample", return_value=(None, None, None, None)):
        for where, call in calls.items():
            with pytest.raises(DataError, match="could not tokenize the conversation for") as caught:
                call()
            assert "prepare_chatml_sample printed why" in str(caught.value), where
