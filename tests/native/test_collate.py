"""The native collator: boson's audio layout (BOS/EOS, delay pattern) and labels, written out as the row."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import save_file

from higgs_lora.backends.native.collate import NativeCollator, encode_example, example_length
from higgs_lora.higgs.chatml import chatml_tokens
from higgs_lora.higgs.delay import revert_delay
from tests.native.conftest import SYSTEM_PROMPT

EOS, BOS, AUDIO = 1025, 1024, 128016


def _entry(folder: Path, name: str, codes: torch.Tensor) -> Path:
    """A codes-cache entry as `data.cache.CodesCache.put` writes it."""
    path = folder / f"{name}.safetensors"
    save_file({"codes": codes.to(torch.int16).contiguous()}, str(path))
    return path


def _examples(tmp_path: Path) -> tuple[list[SimpleNamespace], dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    codes = {
        name: torch.randint(0, 1024, (4, n), generator=generator)
        for name, n in (("a", 9), ("r", 6), ("b", 13))
    }
    paths = {name: _entry(tmp_path, name, c) for name, c in codes.items()}
    examples = [
        SimpleNamespace(text="Plain one.", codes=paths["a"], ref_text=None, ref_codes=None),
        SimpleNamespace(
            text="With a reference.", codes=paths["b"], ref_text="Ref words.", ref_codes=paths["r"]
        ),
    ]
    return examples, codes


def test_prompt_labels_only_the_target_turns_control_tokens(native_text_tokenizer) -> None:
    tokens, labels, names = chatml_tokens("Hi.", SYSTEM_PROMPT, "Ref.", native_text_tokenizer)
    assert names == ["reference", "target"]
    assert tokens[0] == 128000 and tokens.count(AUDIO) == 2
    labelled = [t for t, label in zip(tokens, labels, strict=True) if label != -100]
    assert labelled == [
        128013,
        AUDIO,
        128012,
        128009,
    ]  # <|audio_out_bos|> <|AUDIO_OUT|> <|audio_eos|> <|eot_id|>
    text = native_text_tokenizer.decode(tokens)
    assert text.startswith(
        f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{SYSTEM_PROMPT}<|eot_id|>"
    )
    assert text.endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|><|AUDIO_OUT|><|audio_eos|><|eot_id|>"
    )


def test_eos_is_a_target_bos_reference_and_delay_fill_are_not(
    tmp_path, native_text_tokenizer, tiny_config
) -> None:
    examples, codes = _examples(tmp_path)
    samples = [encode_example(e, native_text_tokenizer, SYSTEM_PROMPT) for e in examples]
    collator = NativeCollator(tiny_config)
    batch = pickle.loads(pickle.dumps(collator))(samples)  # the collator runs in loader workers

    lengths = batch["attention_mask"].sum(1).tolist()
    assert lengths == [example_length(e, native_text_tokenizer, SYSTEM_PROMPT, 4) for e in examples]
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["input_ids"].shape[1] < max(lengths) + 8
    assert (
        batch["input_ids"][batch["attention_mask"] == 0] == 128001
    ).all()  # right-padded with <|end_of_text|>

    labels = batch["label_audio_ids"]  # [C, N]: example 0's target, example 1's reference, then its target
    widths = [9 + 5, 6 + 5, 13 + 5]  # T frames → T + C + 1 positions
    assert labels.shape == (4, sum(widths)) == (4, int(batch["audio_out_mask"].sum()))
    plain, reference, target = labels.split(widths, dim=1)
    assert (reference == -100).all()
    for segment, clip in ((plain, codes["a"]), (target, codes["b"])):
        assert (segment[:, 0] == -100).all()  # the BOS column predicts nothing
        assert torch.equal(revert_delay(segment)[:, 1:-1], clip)
        assert (revert_delay(segment)[:, -1] == EOS).all()  # the stream EOS of every codebook is a target
        assert (
            int((segment == -100).sum()) == 4 * 4
        )  # per row: its BOS label and the delay fill on both sides
    # the frames the model reads: BOS and EOS, delayed; reference included, in row order
    frames = batch["audio_input_ids"][batch["audio_input_ids_mask"]]
    assert frames.shape == (sum(widths), 4)
    assert (frames[0] == BOS).all() and (frames[widths[0] - 1] == EOS).all()
    # text targets: the target turn's <|audio_out_bos|>, <|audio_eos|>, <|eot_id|>; nothing on audio positions
    text = batch["label_ids"]
    assert [int((row != -100).sum()) for row in text] == [3, 3]
    assert (text[batch["input_ids"] == AUDIO] == -100).all()
    positions = batch["position_ids"][0, : lengths[0]]
    assert torch.equal(positions, torch.arange(lengths[0]))
