"""Examples → boson-multimodal ChatML samples (the turns of `higgs.chatml.conversation`), tokenized by its
own `prepare_chatml_sample`."""

from __future__ import annotations

import torch
from boson_multimodal.data_types import AudioContent, ChatMLSample, Message
from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample, prepare_chatml_sample

from higgs_lora.core.errors import DataError
from higgs_lora.higgs.chatml import conversation
from higgs_lora.higgs.delay import stream_length
from higgs_lora.higgs.examples import Example, codes_frames, load_codes


def chatml_sample(
    text: str, system_prompt: str, ref_text: str | None = None, with_target: bool = True
) -> ChatMLSample:
    """The ChatML conversation for one example; audio contents are placeholders filled from the cache.

    `with_target=False` gives the inference prompt (the same turns, ending after the user's text).
    """
    messages = [
        Message(turn.role, turn.text if turn.audio is None else AudioContent(audio_url=turn.audio))
        for turn in conversation(text, system_prompt, ref_text, with_target)
    ]
    return ChatMLSample(messages=messages, start_index=len(messages) - 1)


def tokenize_chatml(sample: ChatMLSample, text_tokenizer) -> tuple[list[int], list[int], list, object]:
    """boson's `prepare_chatml_sample`, with its failures raised instead of returned.

    It catches every exception itself, prints it and returns four Nones (chatml_dataset.py ~L250),
    which would surface later as a confusing TypeError: every caller goes through here instead.
    """
    input_tokens, label_tokens, audio_contents, speaker = prepare_chatml_sample(sample, text_tokenizer)
    if input_tokens is None:
        text = next((m.content for m in reversed(sample.messages) if isinstance(m.content, str)), "")
        raise DataError(
            f"could not tokenize the conversation for {text!r} with this text tokenizer (boson-multimodal's "
            "prepare_chatml_sample printed why, above). Check the text and the tokenizer of [model] base."
        )
    return input_tokens, label_tokens, audio_contents, speaker


def encode_example(example: Example, text_tokenizer, system_prompt: str) -> ChatMLDatasetSample:
    """Tokenize the conversation and attach the cached codes in the order the placeholders appear."""
    sample = chatml_sample(example.text, system_prompt, example.ref_text)
    input_tokens, label_tokens, audio_contents, _ = tokenize_chatml(sample, text_tokenizer)
    by_name = {"reference": example.ref_codes, "target": example.codes}
    codes = [load_codes(by_name[content.audio_url]) for content in audio_contents]
    lengths = torch.tensor([c.shape[1] for c in codes], dtype=torch.long)
    return ChatMLDatasetSample(
        input_ids=torch.tensor(input_tokens, dtype=torch.long),
        label_ids=torch.tensor(label_tokens, dtype=torch.long),
        audio_ids_concat=torch.cat(codes, dim=1),
        audio_ids_start=torch.cumsum(lengths, 0) - lengths,
        audio_waveforms_concat=torch.zeros(0),
        audio_waveforms_start=torch.zeros(0, dtype=torch.long),
        audio_sample_rate=torch.zeros(0),
        audio_speaker_indices=torch.zeros(0, dtype=torch.long),
    )


def example_length(example: Example, text_tokenizer, system_prompt: str, num_codebooks: int) -> int:
    """Sequence length once the audio is expanded, from the cache files' headers."""
    sample = chatml_sample(example.text, system_prompt, example.ref_text)
    tokens, _, audio_contents, _ = tokenize_chatml(sample, text_tokenizer)
    paths = {"reference": example.ref_codes, "target": example.codes}
    # each placeholder token becomes its expanded stream (frames, BOS/EOS, the delay pattern's tail)
    return len(tokens) + sum(
        stream_length(codes_frames(paths[c.audio_url]), num_codebooks) - 1 for c in audio_contents
    )
