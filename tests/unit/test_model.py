"""Model side: 4-bit layers, the labels shim under PEFT, LoRA target groups, layer checkpointing."""

from __future__ import annotations

from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from peft import LoraConfig as PeftLoraConfig
from peft import get_peft_model
from torch import nn

from higgs_lora import ModelError
from higgs_lora.backends.boson import BACKEND
from higgs_lora.backends.boson.tiny import build_tiny_model
from higgs_lora.core.schema import LoraConfig, ModelConfig
from higgs_lora.higgs.loss import higgs_loss
from higgs_lora.model import apply_lora, enable_layer_checkpointing, load_base_model, target_regex
from higgs_lora.model.lora import matching_modules
from tests.helpers import synthetic_batch

TINY = ModelConfig(base="tiny-random", audio_tokenizer="tiny-random")


def loss_of(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = dict(batch)
    label_audio_ids = inputs.pop("label_audio_ids")
    out = model(**inputs)
    return higgs_loss(out.logits, out.expanded_labels, out.audio_logits, label_audio_ids).total


def test_quantized_linears_are_linear4bit_and_heads_are_not() -> None:
    model = load_base_model(TINY)
    decoder_linears = {
        n: m for n, m in model.named_modules() if n.startswith("layers.") and isinstance(m, nn.Linear)
    }
    assert len(decoder_linears) == 2 * (4 + 3 + 3)  # attention + text FFN + audio FFN, 2 layers
    assert all(isinstance(m, bnb.nn.Linear4bit) for m in decoder_linears.values())
    assert all(m.weight.quant_state.quant_type == "nf4" for m in decoder_linears.values())
    for head in (model.audio_decoder_proj.text_lm_head, model.audio_decoder_proj.audio_lm_head):
        assert not isinstance(head, bnb.nn.Linear4bit) and head.weight.dtype == torch.float32
    assert model.audio_codebook_embeddings.weight.dtype == torch.float32
    assert not any(p.requires_grad for p in model.parameters())


def test_plain_lora_keeps_full_precision_linears() -> None:
    model = load_base_model(ModelConfig(base="tiny-random", quantization="none"))
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def test_bare_higgs_model_under_peft_fails_on_labels(tmp_path: Path, text_tokenizer) -> None:
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    batch.pop("label_audio_ids")
    peft_model = get_peft_model(
        build_tiny_model(),
        PeftLoraConfig(
            r=4, target_modules=target_regex(LoraConfig(), BACKEND.target_patterns), task_type="CAUSAL_LM"
        ),
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'labels'"):
        peft_model(**batch)


def test_shim_under_peft_trains_the_lora_weights(tmp_path: Path, text_tokenizer) -> None:
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    torch.manual_seed(0)
    model = apply_lora(load_base_model(TINY), LoraConfig(r=4, dropout=0.0))
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora)
    before = {n: p.detach().clone() for n, p in lora.items()}
    optimizer = torch.optim.AdamW(lora.values(), lr=1e-2)
    loss = loss_of(model, batch)
    model(**{k: v for k, v in batch.items() if k != "label_audio_ids"}, labels=torch.zeros(1))  # absorbed
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(not torch.equal(before[n], p) for n, p in lora.items() if "lora_B" in n)
    assert loss_of(model, batch).item() < loss.item()


def test_adapter_keys_are_those_of_a_plain_higgs_model() -> None:
    shimmed = apply_lora(
        load_base_model(ModelConfig(base="tiny-random", quantization="none")), LoraConfig(r=4)
    )
    plain = get_peft_model(
        build_tiny_model(),
        PeftLoraConfig(r=4, target_modules=target_regex(LoraConfig(), BACKEND.target_patterns)),
    )
    assert set(shimmed.state_dict()) == set(plain.state_dict())


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["attention"], 8),
        (["text_ffn"], 6),
        (["audio_ffn"], 6),
        (["heads"], 2),
        (["attention", "audio_ffn"], 14),
    ],
)
def test_target_groups_resolve_to_the_right_modules(targets: list[str], expected: int) -> None:
    model = build_tiny_model()
    names = matching_modules(model, target_regex(LoraConfig(targets=targets), BACKEND.target_patterns))
    assert len(names) == expected
    if targets == ["text_ffn"]:
        assert all(".mlp." in n for n in names)
    if targets == ["audio_ffn"]:
        assert all(".audio_mlp." in n for n in names)


def test_regex_matching_nothing_is_a_clear_error() -> None:
    with pytest.raises(
        ModelError, match=r"\[lora\] target_regex = 'nothing\\\\.here' matches no Linear layer"
    ):
        apply_lora(build_tiny_model_shimmed(), LoraConfig(target_regex=r"nothing\.here"))


def build_tiny_model_shimmed():
    return load_base_model(ModelConfig(base="tiny-random", quantization="none"))


def test_layer_checkpointing_recomputes_and_gives_the_same_gradients(tmp_path: Path, text_tokenizer) -> None:
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)

    def gradients_and_attention_calls(checkpointed: bool) -> tuple[dict[str, torch.Tensor], int]:
        torch.manual_seed(0)
        model = apply_lora(build_tiny_model_shimmed(), LoraConfig(r=4, dropout=0.0))
        if checkpointed:
            assert enable_layer_checkpointing(model) == 2
        calls = []
        for layer in model.get_base_model().layers:
            layer.self_attn.register_forward_hook(lambda *_: calls.append(1))
        model.train()
        loss_of(model, batch).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        return grads, len(calls)

    plain, plain_calls = gradients_and_attention_calls(False)
    checkpointed, checkpointed_calls = gradients_and_attention_calls(True)
    assert plain_calls == 2  # one forward per layer
    assert checkpointed_calls == 4  # forward + recomputation in backward, per layer
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-7)


def test_4bit_layers_stay_as_loaded_through_evaluation_and_take_empty_inputs(
    tmp_path: Path, text_tokenizer
) -> None:
    # bitsandbytes' CPU inference path would repack the weights on the first no-grad eval forward
    # (changing later training numerics) and die with SIGFPE on the zero-row inputs of generation.
    batch, _ = synthetic_batch(tmp_path, text_tokenizer)
    probe, _ = synthetic_batch(tmp_path / "probe", text_tokenizer, with_reference=False, seed=5)
    model = apply_lora(load_base_model(TINY), LoraConfig(r=4, dropout=0.0))
    model.train()
    before = loss_of(model, batch).item()
    model.eval()
    with torch.no_grad():
        loss_of(model, probe)
        layer = model.get_base_model().layers[0].audio_mlp.up_proj
        assert layer(torch.zeros(0, 64)).shape == (0, 128)
    model.train()
    assert loss_of(model, batch).item() == before


def test_speak_and_merge_choose_full_precision_only_where_it_fits_the_gpu(tmp_path: Path) -> None:
    """The automatic choices, with a GPU's free memory simulated (the decision is plan's arithmetic)."""
    from unittest import mock

    from safetensors.torch import save_file

    from higgs_lora.core.schema import ModelConfig
    from higgs_lora.model.load import Runtime
    from higgs_lora.planning.inference import speech_quantization
    from higgs_lora.verbs.merge import merge_runtime

    real = ModelConfig(compute_dtype="bfloat16")
    gpu = Runtime(torch.device("cuda", 0), torch.bfloat16)
    assert speech_quantization(real, Runtime(torch.device("cpu"), torch.float32)) == "none"
    save_file(
        {"base_model.model.x.lora_A.weight": torch.zeros(16, 3072)},
        str(tmp_path / "adapter_model.safetensors"),
    )
    for free_gib, speech, merge_device in ((11.5, "nf4", "cpu"), (80, "none", "cuda")):
        with (
            mock.patch("torch.cuda.mem_get_info", return_value=(int(free_gib * 2**30), 80 * 2**30)),
            mock.patch("torch.cuda.is_available", return_value=True),
            mock.patch("torch.cuda.current_device", return_value=0),
        ):
            assert speech_quantization(real, gpu) == speech
            assert merge_runtime("auto", real, tmp_path).device.type == merge_device
    assert merge_runtime("cpu", real, tmp_path).device.type == "cpu"
