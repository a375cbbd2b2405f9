"""`higgs-lora dataset`: from long raw recordings to a training set, and checks of existing sets.

vad.py (silero-vad) → cut.py (clips in pauses, within limits) → asr (Whisper, ../asr.py) →
clean.py (loudness, clipping, SNR, speech share, duplicates) → build.py (resumable orchestration)
→ manifest.py / report.py / page.py (outputs) → review.py (save edits from the page); check.py.
"""

from higgs_lora.dataset.build import BuildOptions, build_dataset
from higgs_lora.dataset.check import CheckReport, check_dataset
from higgs_lora.dataset.clean import Thresholds
from higgs_lora.dataset.cut import Limits
from higgs_lora.dataset.report import BuildReport
from higgs_lora.dataset.review import ReviewServer, save_edits

__all__ = [
    "BuildOptions",
    "BuildReport",
    "CheckReport",
    "Limits",
    "ReviewServer",
    "Thresholds",
    "build_dataset",
    "check_dataset",
    "save_edits",
]
