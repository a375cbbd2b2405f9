"""How a speaker picks each frame's codes: one set of settings for every backend, upstream's defaults.

`SAMPLING` is what boson's own serve engine samples with, `HiggsAudioServeEngine.generate` in
boson_multimodal/serve/serve_engine.py (boson-ai/higgs-audio f04f5df, L341-351): temperature 0.7,
top_p 0.95, top_k None (no top-k), ras_win_len 7, ras_win_max_num_repeat 2. Upstream's examples pick
others per call (the README's snippet: temperature 0.3, top_k 50; examples/generation.py: temperature
1.0, top_k 50); the engine's signature is the default its API documents, and the one we hold to.

RAS, repetition-aware sampling (boson's `_sample_audio_tokens`, transformers' `HiggsAudioV2GenerationMixin
._sample`): a codebook whose chosen code already occurs `ras_max_repeats` times among its last
`ras_window` codes is sampled again from the plain softmax (no temperature, no top-p).

Greedy (temperature 0) is argmax and nothing else: top-p and top-k only shape a draw, and RAS would
replace argmax by a draw. Upstream's engine keeps RAS on at temperature 0 (and transformers fills it in
from a converted checkpoint's generation_config), so its "greedy" depends on the seed; ours does not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from higgs_lora.core.errors import HiggsLoraError


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    """0 = greedy."""
    top_p: float = 0.95
    """Nucleus sampling; 1 = none."""
    top_k: int | None = None
    """None = none."""
    ras_window: int | None = 7
    """Repetition-aware sampling's window, in frames; None = no RAS."""
    ras_max_repeats: int = 2
    """How often a code may already occur in the window before it is sampled again."""

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise HiggsLoraError(f"--temperature {self.temperature}: must be 0 (greedy) or more (e.g. 0.7)")
        if not 0 < self.top_p <= 1:
            raise HiggsLoraError(f"top_p {self.top_p}: must be in (0, 1] (1 = none)")
        if self.top_k is not None and self.top_k < 1:
            raise HiggsLoraError(f"top_k {self.top_k}: must be 1 or more, or None (none)")
        if self.ras_window is not None and self.ras_window < 1:
            raise HiggsLoraError(f"ras_window {self.ras_window}: must be 1 or more, or None (no RAS)")
        if self.ras_max_repeats < 1:
            raise HiggsLoraError(f"ras_max_repeats {self.ras_max_repeats}: must be 1 or more")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def but(self, temperature: float | None = None, top_p: float | None = None) -> Sampling:
        """These settings with a call's temperature and top-p, where it gives them."""
        changes = {"temperature": temperature, "top_p": top_p}
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    def effective(self) -> Sampling:
        """What generation runs: greedy keeps nothing that draws (no top-p, no top-k, no RAS)."""
        if self.greedy:
            return replace(self, top_p=1.0, top_k=None, ras_window=None)
        return self

    def describe(self) -> str:
        """One line for --help and the docs."""
        top_k = f"top-k {self.top_k}" if self.top_k is not None else "no top-k"
        if self.ras_window is None:
            return f"temperature {self.temperature:g}, top-p {self.top_p:g}, {top_k}, no RAS"
        return (
            f"temperature {self.temperature:g}, top-p {self.top_p:g}, {top_k}, and RAS (repetition-aware "
            f"sampling): a code already chosen {self.ras_max_repeats} times in its codebook's last "
            f"{self.ras_window} frames is drawn again from the plain softmax"
        )


SAMPLING = Sampling()
"""The defaults of both backends' speakers, `speak`, `eval`, `[samples]` and `[eval]`."""
