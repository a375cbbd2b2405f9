"""`benchmarks/gpu_real_size.py` cannot run here (no GPU), so at least its arguments and its refusal are
checked: a GPU session should find it working, not a typo."""

from __future__ import annotations

import pytest

from benchmarks import gpu_real_size


def test_arguments_pick_the_architecture_and_its_recipe() -> None:
    args = gpu_real_size.parse_args(["--model", "higgs3", "--layers", "2"])
    spec = gpu_real_size.MODELS[args.model]
    assert (spec.backend, spec.recipe, args.layers, args.target_seconds) == (
        "higgs3",
        "higgs3-8gb.toml",
        2,
        20,
    )
    assert gpu_real_size.parse_args([]).model == "v2"
    config = gpu_real_size.architecture_config(spec, 2)
    assert (
        config["text_config"]["num_hidden_layers"] == 2 and config["model_type"] == "higgs_multimodal_qwen3"
    )
    v2 = gpu_real_size.architecture_config(gpu_real_size.MODELS["v2"], 2)
    assert v2["text_config"]["num_hidden_layers"] == 2 and max(v2["audio_dual_ffn_layers"]) < 2


def test_refuses_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the benchmark would run")
    assert gpu_real_size.main(["--model", "higgs3"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
