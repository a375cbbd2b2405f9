"""The boson-multimodal backend: `HiggsAudioModel` under the labels shim, boson's data path and serve path.

The only package of the kit that imports boson_multimodal.
"""

from higgs_lora.backends.boson.backend import BosonBackend

BACKEND = BosonBackend()

__all__ = ["BACKEND", "BosonBackend"]
