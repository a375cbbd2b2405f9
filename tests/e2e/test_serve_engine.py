"""A merged checkpoint opens in boson-multimodal's own serve engine, as the model card says."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
import torch
from boson_multimodal.data_types import ChatMLSample, Message
from boson_multimodal.serve import serve_engine

import higgs_lora
from higgs_lora.backends.boson.tiny import build_tiny_audio_tokenizer
from tests.helpers import smoke_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, codes_cache_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("served")
    recipe = smoke_recipe(folder, codes_cache_dir, train="max_steps = 2\nsave_steps = 100", name="served")
    return higgs_lora.train(recipe, progress=False).adapter_dir


def test_merged_folder_loads_through_the_serve_engine(adapter: Path, tmp_path: Path) -> None:
    merged = higgs_lora.merge(adapter, out=tmp_path / "merged", dtype="fp32").out
    # The engine downloads the audio tokenizer by name; offline, hand it the tiny one.
    with mock.patch.object(
        serve_engine, "load_higgs_audio_tokenizer", lambda *a, **k: build_tiny_audio_tokenizer()
    ):
        engine = serve_engine.HiggsAudioServeEngine(
            str(merged), "tiny-random", device="cpu", torch_dtype=torch.float32, kv_cache_lengths=[512]
        )
    sample = ChatMLSample(
        messages=[Message("system", "Generate audio following instruction."), Message("user", "Hi.")]
    )
    response = engine.generate(sample, max_new_tokens=16, force_audio_gen=True, seed=1)
    assert response.audio is not None and response.audio.size > 0 and response.sampling_rate == 16000
