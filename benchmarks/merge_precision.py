"""How much of a real-size adapter's effect each merge precision, and each way of speaking, keeps.

    python benchmarks/merge_precision.py [--ratios 1e-3 2e-3 1e-2]

On the installed backend's tiny model with its weights stored in bf16 (as bosonai's checkpoint is),
an adapter of the recipe defaults' shape whose ‖ΔW‖/‖W‖ is each ratio (a lr 2e-4 run ends near 1e-3
to 1e-2). For each: the share of the adapter's effect on the probe's audio logits kept by
`higgs-lora merge --dtype fp32|fp16|bf16` (its own check, re-measured from the written checkpoint),
and by the model `speak` runs: the adapter unmerged on a bf16 base (a GPU's full precision), and the
old default, merged into bf16 in memory. kept = 1 - ‖out - adapted‖ / ‖adapted - base‖, in fp32.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratios", type=float, nargs="+", default=[1e-3, 2e-3, 1e-2])
    args = parser.parse_args()

    import torch

    import higgs_lora
    from higgs_lora.adapter.fit import load_for_speech
    from higgs_lora.adapter.setup import speech_setup
    from tests.helpers import adapter_effect, installed_backend, kept_share, real_size_adapter

    backend = installed_backend()
    print(f"backend: {backend.name}; kept share of the adapter's effect on the audio logits")
    print(
        f"{'‖ΔW‖/‖W‖':>9}  {'merge fp32':>10} {'fp16':>6} {'bf16':>6}  {'speak unmerged/bf16':>19} {'merged bf16':>11}"
    )
    for ratio in args.ratios:
        with tempfile.TemporaryDirectory() as tmp:
            adapter = real_size_adapter(Path(tmp), ratio=ratio)
            effect = adapter_effect(adapter)

            merges = []
            for dtype in ("fp32", "fp16", "bf16"):
                out = Path(tmp) / f"merged-{dtype}"
                higgs_lora.merge(adapter, out=out, dtype=dtype, min_kept=0.0)
                written = backend.load_base_model(str(out), None, torch_dtype=torch.float32).eval()
                merges.append(kept_share(written, effect))
            setup = speech_setup(adapter, quantization="none", compute_dtype="bfloat16")
            unmerged = kept_share(load_for_speech(setup), effect)
            in_memory = higgs_lora.load_adapter(adapter, dtype=torch.bfloat16, quantization="none")
            merged_bf16 = kept_share(in_memory.merge_and_unload().eval(), effect)
        fp32, fp16, bf16 = merges
        print(f"{ratio:9.0e}  {fp32:10.1%} {fp16:6.1%} {bf16:6.1%}  {unmerged:19.1%} {merged_bf16:11.1%}")


if __name__ == "__main__":
    main()
