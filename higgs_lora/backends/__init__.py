"""Backends: everything that knows a particular implementation of Higgs Audio v2 lives behind this seam.

The kit (recipe, data sources, codes cache, loss, trainer, plan, export, CLI) talks to a `Backend`; one
package per implementation provides it:

- `boson`: boson-multimodal's `HiggsAudioModel` (transformers 4.46), the checkpoint's boson layout at the
  pinned hub revisions. The default.
- `native`: transformers' own `HiggsAudioV2ForConditionalGeneration` (transformers >= 5.3), the layout
  the hub's `main` serves now.
- `higgs3`: Higgs TTS 3 (`model_type` "higgs_multimodal_qwen3"), our own class over transformers'
  Qwen3, in the native environment (docs/higgs3.md).

The two cannot share an environment (boson-multimodal pins transformers < 4.47), so a backend module is
imported only when asked for, and `[model] backend = "auto"` takes the one the checkpoint is written
for, among those this environment has. A third implementation is one more package and one line in
`BACKENDS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from higgs_lora.core.errors import ModelError
from higgs_lora.core.hub import (
    BASE_ID,
    MODEL_TYPE_LAYOUTS,
    TINY,
    LayoutError,
    canonical,
    checkpoint_layout,
    layout_message,
    pinned_revision,
    read_config,
)

if TYPE_CHECKING:
    from higgs_lora.backends.base import Backend
    from higgs_lora.core.schema import ModelConfig

# name → (package, what it needs installed, the checkpoint layout its model class reads)
BACKENDS = {
    "boson": ("higgs_lora.backends.boson", "boson_multimodal", "boson"),
    "native": ("higgs_lora.backends.native", "transformers.models.higgs_audio_v2", "native"),
    # Higgs TTS 3: transformers' Qwen3 + the native v2 codec (transformers >= 5.3, the native extra)
    "higgs3": ("higgs_lora.backends.higgs3", "transformers.models.higgs_audio_v2_tokenizer", "higgs3"),
}
INSTALL = {
    "boson": 'pip install -e ".[boson]"  (a virtual environment with transformers 4.46)',
    "native": 'pip install -e ".[native]"  (a virtual environment with transformers >= 5.3)',
    "higgs3": 'pip install -e ".[native]"  (a virtual environment with transformers >= 5.3)',
}


def missing(name: str) -> str | None:
    """Why this environment cannot run backend `name`, or None when it can."""
    requirement = BACKENDS[name][1]
    try:
        found = importlib.util.find_spec(requirement) is not None
    except ModuleNotFoundError:  # a parent package (e.g. transformers) is absent
        found = False
    if found:
        return None
    return (
        f"the {name} backend needs `{requirement}`, which this environment lacks. Install it: {INSTALL[name]}"
    )


def installed() -> list[str]:
    return [name for name in BACKENDS if missing(name) is None]


def layout_backend(layout: str) -> str:
    """The backend whose model class reads checkpoints in `layout` ("boson" or "native")."""
    return next(name for name, (_, _, reads) in BACKENDS.items() if reads == layout)


def get(name: str) -> Backend:
    """The backend called `name`, refused with how to install it when this environment lacks it."""
    if name not in BACKENDS:
        raise ModelError(f"[model] backend = {name!r}: choose one of auto, {', '.join(BACKENDS)}.")
    problem = missing(name)
    if problem is not None:
        raise ModelError(f"[model] backend = {name!r}: {problem}")
    return importlib.import_module(BACKENDS[name][0]).BACKEND


def default() -> str:
    """`auto` for a checkpoint whose layout is not known yet: boson where installed, else native."""
    available = installed()
    if not available:
        raise ModelError(
            "no Higgs backend is installed in this environment. Install one:\n  "
            + "\n  ".join(INSTALL.values())
        )
    return available[0]


def resolve(config: ModelConfig) -> str:
    """The backend a recipe's `[model]` runs on: as set, or (`auto`) the one its checkpoint is written for."""
    return decide(config)[0]


def decide(config: ModelConfig) -> tuple[str, dict[str, Any] | None]:
    """`resolve`, with the checkpoint's config.json when it had to be read to decide (else None).

    `auto` reads the checkpoint's config.json (a local file, or one small download at the recipe's
    revision): `model_type` "higgs_audio" is boson's layout, "higgs_audio_v2" the native one. The tiny
    model and the official id (under its current or a former name) without a revision exist in both:
    they take the installed backend.
    """
    if config.backend != "auto":
        return config.backend, None
    official = canonical(config.base) == BASE_ID
    if config.base == TINY or (official and config.revision is None):
        return default(), None
    if official and config.revision == pinned_revision(BASE_ID):
        return "boson", None  # the pinned snapshot is boson's layout: known without asking the hub
    checkpoint = read_config(config.base, config.revision, "[model] base")
    layout = checkpoint_layout(checkpoint, config.base)
    name = layout_backend(layout)
    if missing(name) is not None:
        found = f"model_type {checkpoint['model_type']!r}"
        raise LayoutError(layout_message("[model] base", config.base, config.revision, found, layout))
    return name, checkpoint


def backend_for(config: ModelConfig) -> Backend:
    """The backend object for a recipe's `[model]` (see `resolve`)."""
    return get(resolve(config))


def backend_of(model: Any) -> Backend:
    """The backend of a loaded model (PEFT-wrapped or not), from its config's model_type."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return get(layout_backend(MODEL_TYPE_LAYOUTS[base.config.model_type]))
