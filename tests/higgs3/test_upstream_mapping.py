"""Cross-check against upstream's reading of the checkpoint: the tiny model's saved weights, renamed by
sglang-omni's map (`sglang_omni/models/higgs_tts/model.py` `_BACKBONE_PREFIX_MAP`: `tied.embedding.
text_embedding.` → `embed_tokens.`, `body.layers.` → `layers.`, `body.norm.` → `norm.`) into a plain
transformers `Qwen3Model`, with the fused lookup and head of its `modeling.py` (offset ids, sum over
codebooks; `F.linear` with the table, reshaped [L, C, K]) and its prompt (ref rows pasted at the -100
placeholders, `text_tokenizer.py`), give the same audio logits as our model on our collated batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from higgs_lora.backends.higgs3.collate import Higgs3Collator, Higgs3Sample, delayed, prompt_parts
from higgs_lora.backends.higgs3.tiny import build_tiny_model

pytestmark = pytest.mark.backend("higgs3")
PREFIX_MAP = {
    "tied.embedding.text_embedding.": "embed_tokens.",
    "body.layers.": "layers.",
    "body.norm.": "norm.",
}
TABLE = "tied.embedding.modality_embeddings.0.embedding.weight"


def test_upstreams_reading_gives_our_logits(tmp_path: Path, higgs3_text_tokenizer) -> None:
    from transformers import Qwen3Model

    model = build_tiny_model()
    model.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    body = Qwen3Model(model.config.text_config).eval()
    renamed = {
        new + key[len(old) :]: value
        for key, value in weights.items()
        for old, new in PREFIX_MAP.items()
        if key.startswith(old)
    }
    missing, unexpected = body.load_state_dict(renamed, strict=False)
    assert not missing and not unexpected
    table, c, k = weights[TABLE], 4, 1026

    generator = torch.Generator().manual_seed(5)
    ref, target = (torch.randint(0, 1024, (c, n), generator=generator) for n in (6, 5))
    before, after = prompt_parts("Hello.", "Ref.", True, higgs3_text_tokenizer)
    # Upstream's prompt: -100 per delayed reference row, the reference rows pasted there; then the target.
    ids = before + [-100] * (6 + c - 1) + after
    ref_rows, target_rows = delayed(ref, c), delayed(target, c)
    rows = torch.cat([ref_rows, target_rows])  # in position order: the placeholders, then the target
    positions = [i for i, t in enumerate(ids) if t == -100] + [len(ids) + j for j in range(len(target_rows))]
    text = torch.tensor([max(t, 0) for t in ids] + [0] * len(target_rows))
    embeds = F.embedding(text, weights["tied.embedding.text_embedding.weight"])
    fused = F.embedding(rows + torch.arange(c) * k, table).sum(-2)
    embeds[positions] = fused
    with torch.no_grad():
        hidden = body(inputs_embeds=embeds[None]).last_hidden_state[0]
    audio_out = list(range(len(ids) - 1, len(ids) + len(target_rows)))  # <|audio|> + target rows
    expected = F.linear(hidden[audio_out], table).view(-1, c, k)

    batch = Higgs3Collator(c, 151643, round_to=1)([Higgs3Sample(before, after, ref, target)])
    batch.pop("label_audio_ids")
    with torch.no_grad():
        got = model.eval()(**batch).audio_logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_delay_pattern_is_upstreams() -> None:
    """`codebook_layout.apply_delay_pattern`, restated: [T, N] → [T + N - 1, N], EOC everywhere, BOC where
    t < c, codebook c's codes at rows c .. c + T - 1."""
    codes = torch.randint(0, 1024, (8, 11), generator=torch.Generator().manual_seed(2))  # [C, T]
    t, n = codes.shape[1], codes.shape[0]
    expected = torch.full((t + n - 1, n), 1025)
    rows = torch.arange(t + n - 1)
    for c in range(n):
        expected[rows < c, c] = 1024
        expected[c : c + t, c] = codes[c]
    assert torch.equal(delayed(codes, 8), expected)
