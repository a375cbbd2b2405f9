"""`speak`: text → speech with an adapter or a merged model, through the backend's generation path.

The adapter's (or merged folder's) trained setup is resolved once; the model is loaded for speech
(the adapter unmerged on its base, `adapter.fit.load_for_speech`) and handed to its backend's `Speaker`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from higgs_lora.adapter.fit import load_for_speech
from higgs_lora.adapter.setup import speech_setup
from higgs_lora.backends.speech import Speech, check_text, make_speaker
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.higgs.sampling import SAMPLING
from higgs_lora.model.load import load_tokenizers


def speak(
    text: str,
    *,
    adapter: str | Path | None = None,
    model: str | Path | None = None,
    ref_audio: str | Path | None = None,
    ref_text: str | None = None,
    out: str | Path | None = None,
    seed: int | None = None,
    temperature: float = SAMPLING.temperature,
    max_seconds: float = 30.0,
    audio_tokenizer: str | None = None,
    quantization: str = "auto",
    compute_dtype: str = "auto",
    system_prompt: str | None = None,
    force: bool = False,
    trust_pickle: bool = False,
    base_only: bool = False,
) -> Speech:
    """Speak `text` with an adapter (`adapters/NAME`) or a merged model folder; write `out` if given.

    `quantization`: "none" runs the full-precision base, "nf4" the 4-bit base (fits a 12 GB card); the
    adapter is applied unmerged on either (folded in only into an fp32 base, where that is exact).
    "auto": an adapter runs on the base as training loaded it (`[model] quantization`), the model that
    `[samples]`/`[eval]` heard and `eval` scores; a merged model takes "none" when its predicted peak
    fits the GPU's free memory (always on CPU), else "nf4". `compute_dtype` "auto": as the adapter was
    trained; for a merged model on a GPU, the dtype it was merged in.
    The system prompt defaults to the one the adapter was trained with. `base_only`: the adapter's base
    alone, loaded as training loaded it, with the adapter's prompt: with the same seed, what the adapter
    changed.
    """
    check_text(text)
    if (adapter is None) == (model is None):
        raise HiggsLoraError("give exactly one of --adapter adapters/NAME or --model DIR")
    if out is not None and Path(out).exists() and not force:
        raise OutputExistsError(f"{out} exists. Pass --force to replace it, or choose another --out.")
    setup = speech_setup(adapter, model, quantization, compute_dtype, trust_pickle)
    setup = setup.loading(audio_tokenizer=audio_tokenizer)
    if base_only:
        if adapter is None:
            raise HiggsLoraError("--base-only speaks an adapter's base: give --adapter adapters/NAME")
        setup = replace(setup, adapter=None)
    speaker = make_speaker(
        load_for_speech(setup, trust_pickle),
        *load_tokenizers(setup.model, setup.runtime.device),
        system_prompt=system_prompt or setup.system_prompt,
        # bitsandbytes' 4-bit kernels are not captured into CUDA graphs: graphs only for full precision
        # (the LoRA layers, injected before capture, are captured with the decoder layers).
        capture_cuda_graphs=setup.model.quantization == "none",
    )
    speech = speaker(text, ref_audio, ref_text, seed=seed, temperature=temperature, max_seconds=max_seconds)
    if out is not None:
        speech.save(out, force=force)
    return speech
