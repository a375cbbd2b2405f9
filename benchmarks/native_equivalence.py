"""Do boson-layout weights and adapters give the same outputs in transformers' native Higgs v2 class?

Two environments (boson-multimodal pins transformers < 4.47; the native class needs transformers ≥ 5.3):

    # 1. default env: tiny boson model + two random LoRA adapters + a probe batch, inputs and outputs
    PYTHONPATH=. .venv/bin/python benchmarks/native_equivalence.py save /tmp/higgs-native-fixture
    # 2. native env: convert with higgs_lora.conversion (names from higgs_lora.higgs.layouts), load into HiggsAudioV2ForConditionalGeneration (+PEFT)
    PYTHONPATH=. /work/native-venv/bin/python benchmarks/native_equivalence.py check /tmp/higgs-native-fixture

`save` maps the probe batch to the native forward's arguments (see `native_inputs`), so `check` needs
neither boson nor the kit's data code. Adapters: "regex" (the kit's groups attention + text_ffn + audio_ffn +
heads as one regex) and "list" (a target list with the codebook and text embeddings). Everything runs in
fp32 on the CPU; the aim is max |logit difference| ≤ 1e-5.

Measured 2026-11-29 (default env torch 2.11.0 / transformers 4.46.3 / peft 0.21.2; native env torch 2.11.0 /
transformers 5.24.0 / peft 0.21.2, CPU): max |text logit diff| = max |audio logit diff| = 0.0 for the bare
model and both adapters (which move the audio logits by 2.74 and 1.06), i.e. bit-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ADAPTERS = ("none", "regex", "list")
TOLERANCE = 1e-5


# ---- default (boson) environment ---------------------------------------------------------------------


def save(folder: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file

    from higgs_lora.backends.boson import BACKEND
    from higgs_lora.backends.boson.collate import probe_batch
    from higgs_lora.backends.boson.shim import HiggsAudioForLoRA
    from higgs_lora.backends.boson.tiny import build_tiny_model
    from higgs_lora.backends.tiny import build_tiny_text_tokenizer

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    model = build_tiny_model().float().eval()
    model.save_pretrained(folder / "boson-model", safe_serialization=True)
    probe = probe_batch(model.config, build_tiny_text_tokenizer(), "cpu")
    targets: dict[str, Any] = {
        "regex": "|".join(
            f"(?:{BACKEND.target_patterns[g]})" for g in ("attention", "text_ffn", "audio_ffn", "heads")
        ),
        "list": ["audio_codebook_embeddings", "embed_tokens", "layers.1.audio_mlp.down_proj", "o_proj"],
    }
    tensors: dict[str, Any] = {}
    for name in ADAPTERS:
        if name == "none":
            adapted = model
        else:
            torch.manual_seed(7)
            # init_lora_weights=False: random B as well as A, so the adapter changes every output.
            # "regex" is wrapped as the kit wraps it (labels shim + CAUSAL_LM), "list" with no task type.
            task = "CAUSAL_LM" if name == "regex" else None
            config = LoraConfig(
                r=4, lora_alpha=8, target_modules=targets[name], init_lora_weights=False, task_type=task
            )
            base = HiggsAudioForLoRA.from_pretrained(str(folder / "boson-model"), torch_dtype=torch.float32)
            adapted = get_peft_model(base.eval(), config)
            adapted.save_pretrained(str(folder / f"adapter-{name}"), save_embedding_layers=False)
        with torch.no_grad():
            out = adapted(**probe)
        if name == "none":
            tensors.update(native_inputs(probe, out, model.config))
        tensors[f"{name}.text_logits"] = out.logits.float().contiguous()
        tensors[f"{name}.audio_logits"] = out.audio_logits.float().contiguous()
    save_file(tensors, str(folder / "probe.safetensors"))
    print(f"saved tiny boson model, adapters {ADAPTERS[1:]} and probe to {folder}")


def native_inputs(probe: dict[str, Any], out: Any, config: Any) -> dict[str, Any]:
    """The probe batch as HiggsAudioV2ForConditionalGeneration.forward wants it.

    boson expands each <|AUDIO|>/<|AUDIO_OUT|> placeholder inside forward to its segment's frames (and pads
    the row to a multiple of 8, on the left for one sample); the native model takes the expanded row, one
    `audio_token_id` per frame, and the frames' codes as `audio_input_ids [B, frames, C]` in row order.
    Reference (audio-in) frames and target (audio-out) frames both take the audio FFN in both models."""
    import torch

    audio_mask = out.audio_in_discrete_codes_mask | out.audio_out_mask
    input_ids = out.expanded_input_ids.clone()
    if (input_ids[~audio_mask] == 128014).any():  # the native audio_delay_token_id also marks audio
        raise SystemExit("probe text holds token 128014, which the native model treats as audio")
    input_ids[audio_mask] = config.audio_out_token_idx
    segments = {
        config.audio_in_token_idx: _segments(probe["audio_in_ids"], probe["audio_in_ids_start"]),
        config.audio_out_token_idx: _segments(probe["audio_out_ids"], probe["audio_out_ids_start"]),
    }
    rows = []
    for row in probe["input_ids"]:
        frames = [segments[int(t)].pop(0) for t in row if int(t) in segments]
        rows.append(torch.cat(frames, dim=1).T if frames else torch.zeros(0, config.audio_num_codebooks))
    width = max(r.shape[0] for r in rows)
    audio_input_ids = torch.zeros(len(rows), width, config.audio_num_codebooks, dtype=torch.long)
    audio_input_ids_mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, r in enumerate(rows):
        audio_input_ids[i, : r.shape[0]] = r
        audio_input_ids_mask[i, : r.shape[0]] = True
    if int(audio_input_ids_mask.sum()) != int(audio_mask.sum()):
        raise SystemExit(
            f"{int(audio_mask.sum())} audio positions but {int(audio_input_ids_mask.sum())} frames"
        )
    attention_mask = out.attention_mask.long()
    # boson's merge_input_ids_with_audio_features (utils.py ~L423): positions count real tokens only.
    position_ids = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
    return {
        "in.input_ids": input_ids.contiguous(),
        "in.attention_mask": attention_mask.contiguous(),
        "in.position_ids": position_ids.contiguous(),
        "in.audio_input_ids": audio_input_ids.contiguous(),
        "in.audio_input_ids_mask": audio_input_ids_mask.contiguous(),
        "mask.audio_out": out.audio_out_mask.contiguous(),
    }


def _segments(codes: Any, starts: Any) -> list[Any]:
    begins = [int(s) for s in starts.reshape(-1)]
    ends = [*begins[1:], codes.shape[1]][: len(begins)]
    return [codes[:, s:e] for s, e in zip(begins, ends, strict=True)]


# ---- native environment ------------------------------------------------------------------------------


def check(folder: Path) -> dict[str, Any]:
    import torch
    import transformers
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import HiggsAudioV2ForConditionalGeneration

    from higgs_lora.conversion.adapters import convert_adapter
    from higgs_lora.conversion.files import convert_checkpoint_folder

    probe = load_file(str(folder / "probe.safetensors"))
    native_dir = folder / "native-model"
    shutil.rmtree(native_dir, ignore_errors=True)
    shutil.copytree(folder / "boson-model", native_dir)
    convert_checkpoint_folder(native_dir, to="native")
    inputs = {k.removeprefix("in."): v for k, v in probe.items() if k.startswith("in.")}
    valid = inputs["attention_mask"].bool()
    audio_out = probe["mask.audio_out"]
    results: dict[str, Any] = {"transformers": transformers.__version__, "torch": torch.__version__}
    for name in ADAPTERS:
        model, info = HiggsAudioV2ForConditionalGeneration.from_pretrained(
            str(native_dir), use_text_head=True, dtype=torch.float32, output_loading_info=True
        )
        problems = {k: v for k, v in info.items() if v and k != "unexpected_keys"}
        if problems:
            raise SystemExit(f"native load of {native_dir}: {problems}")
        model.eval()
        if name != "none":
            converted = convert_adapter(folder / f"adapter-{name}", to="native", force=True)
            model = PeftModel.from_pretrained(model, str(converted)).eval()
        core = model.get_base_model() if name != "none" else model
        started = time.perf_counter()
        with torch.no_grad():
            hidden = core.model(**inputs).last_hidden_state
            text = core.text_lm_head(hidden)
            audio_all = model(**inputs).logits  # the full forward, PEFT wrapper included
            head_diff = float((core.audio_lm_head(hidden) - audio_all).abs().max())
        seconds = time.perf_counter() - started
        k = core.config.codebook_size
        audio = audio_all[audio_out].view(-1, core.config.num_codebooks, k)
        text_diff = float((text[valid] - probe[f"{name}.text_logits"][valid]).abs().max())
        audio_diff = float((audio - probe[f"{name}.audio_logits"]).abs().max())
        scale = float(probe[f"{name}.audio_logits"].abs().max())
        results[name] = {
            "max_abs_text_logit_diff": text_diff,
            "max_abs_audio_logit_diff": audio_diff,
            "audio_head_vs_forward_diff": head_diff,
            "max_abs_audio_logit": scale,
            "adapter_changes_audio_by": float(
                (probe[f"{name}.audio_logits"] - probe["none.audio_logits"]).abs().max()
            ),
            "forward_seconds": round(seconds, 4),
        }
        print(
            f"{name:>5}: max |text diff| {text_diff:.3g}, max |audio diff| {audio_diff:.3g} "
            f"(adapter moves audio logits by {results[name]['adapter_changes_audio_by']:.3g})"
        )
    results["config_round_trip_mismatches"] = config_round_trip()
    worst = max(
        max(r["max_abs_text_logit_diff"], r["max_abs_audio_logit_diff"])
        for n, r in results.items()
        if n in ADAPTERS
    )
    results["equal_within_tolerance"] = worst <= TOLERANCE
    (folder / "native_equivalence.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"worst {worst:.3g} ({'within' if worst <= TOLERANCE else 'ABOVE'} {TOLERANCE:g})")
    return results


def config_round_trip() -> dict[str, Any]:
    """The config transformers' conversion script writes for the real checkpoint (defaults, codebook_size
    1026) → boson → native again: every field the native class reads must come back unchanged."""
    from transformers import HiggsAudioV2Config

    from higgs_lora.higgs.configs import boson_config_from_native, native_config_from_boson

    original = HiggsAudioV2Config(codebook_size=1026).to_dict()
    again = native_config_from_boson(boson_config_from_native(original))
    rebuilt = HiggsAudioV2Config(
        **{k: v for k, v in again.items() if k not in ("model_type", "architectures")}
    )
    rebuilt_dict = rebuilt.to_dict()
    fields = [k for k in original if k not in ("transformers_version", "architectures")]
    mismatches = {k: [original[k], rebuilt_dict.get(k)] for k in fields if original[k] != rebuilt_dict.get(k)}
    print(f"config round trip (native defaults → boson → native): {mismatches or 'identical'}")
    return mismatches


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=["save", "check"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    save(args.folder) if args.step == "save" else check(args.folder)


if __name__ == "__main__":
    main()
