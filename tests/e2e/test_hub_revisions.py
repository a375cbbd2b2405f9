"""Today's hub, offline: `main` of the official repos is transformers-native, the pinned revisions are
boson-layout. The default recipe loads the pinned snapshots and trains; asking for `main` is refused
before any heavy work, with one message and exit status 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, BASE_ID, PINNED_REVISIONS
from tests.helpers import SMOKE_DATA, run_cli
from tests.hubcache import make_hub_cache

# The pinned snapshots are in the boson layout; the native backend reads `main` (tests/native).
pytestmark = [pytest.mark.slow, pytest.mark.backend("boson")]
MODEL_PIN = PINNED_REVISIONS[BASE_ID]
TOKENIZER_PIN = PINNED_REVISIONS[AUDIO_TOKENIZER_ID]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = make_hub_cache(tmp_path_factory.mktemp("hf-home"))
    return {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def default_recipe(folder: Path, model_lines: str = "", name: str = "pinned") -> Path:
    """The official ids by default (no base/audio_tokenizer keys), over a few of the smoke clips."""
    data = folder / "data"
    (data / "wavs").mkdir(parents=True, exist_ok=True)
    rows = (SMOKE_DATA / "metadata.csv").read_text().splitlines()[:4]
    for row in rows:
        clip = row.split("|")[0] + ".wav"
        (data / "wavs" / clip).write_bytes((SMOKE_DATA / "wavs" / clip).read_bytes())
    (data / "metadata.csv").write_text("\n".join(rows) + "\n")
    recipe = folder / f"{name}.toml"
    recipe.write_text(
        f"""name = "{name}"
output_dir = "{folder / "adapters"}"

[model]
{model_lines}

[lora]
r = 4
targets = ["attention"]

[data]
path = "data"
eval_fraction = 0.0

[train]
max_steps = 2
grad_accumulation = 1
warmup_steps = 0
gradient_checkpointing = false
"""
    )
    return recipe


def test_default_recipe_trains_on_the_pinned_snapshots_and_records_them(hub, tmp_path: Path) -> None:
    recipe = default_recipe(tmp_path)
    plan = run_cli("plan", str(recipe), env=hub)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert f"{BASE_ID} @ {MODEL_PIN[:8]}" in plan.stdout and "cached" in plan.stdout

    result = run_cli("train", str(recipe), env=hub)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{BASE_ID} @ {MODEL_PIN[:8]}" in result.stdout
    assert f"{AUDIO_TOKENIZER_ID} @ {TOKENIZER_PIN[:8]}" in result.stdout
    assert "bosonai/hubert_base @ main" in result.stdout
    adapter = tmp_path / "adapters" / "pinned"
    recorded = tomllib.loads((adapter / "recipe.toml").read_text())["model"]
    assert recorded["base"] == BASE_ID and recorded["revision"] == MODEL_PIN
    assert recorded["audio_tokenizer_revision"] == TOKENIZER_PIN
    assert json.loads((adapter / "adapter_config.json").read_text())["revision"] == MODEL_PIN
    metrics = json.loads((adapter / "metrics.json").read_text())
    assert (metrics["base_revision"], metrics["audio_tokenizer_revision"]) == (MODEL_PIN, TOKENIZER_PIN)
    assert MODEL_PIN in (adapter / "README.md").read_text()

    # merge and speak load exactly what was trained: the pinned snapshots, not `main`.
    merged = run_cli("merge", str(adapter), "--dtype", "fp32", env=hub)
    assert merged.returncode == 0, merged.stderr[-3000:]
    record = json.loads((adapter / "merged" / "higgs_lora_merge.json").read_text())
    assert (record["base_revision"], record["audio_tokenizer_revision"]) == (MODEL_PIN, TOKENIZER_PIN)
    assert f'revision="{TOKENIZER_PIN}"' in (adapter / "merged" / "README.md").read_text()
    for source in (["--adapter", str(adapter)], ["--model", str(adapter / "merged")]):
        out = tmp_path / f"{source[0].strip('-')}.wav"
        spoken = run_cli("speak", "--text", "Hi.", *source, "--max-seconds", "0.3", "--seed", "1",
                         "--out", str(out), env=hub)  # fmt: skip
        assert spoken.returncode == 0, spoken.stderr[-3000:]
        assert out.stat().st_size > 44


@pytest.mark.parametrize(
    ("line", "what"),
    [('revision = "main"', "[model] base"), ('audio_tokenizer_revision = "main"', "[model] audio_tokenizer")],
)
def test_main_in_the_native_layout_is_refused_before_any_heavy_work(hub, tmp_path: Path, line, what) -> None:
    recipe = default_recipe(tmp_path, line, name="on-main")
    for verb in ("train", "plan", "prepare"):
        if verb == "plan" and "audio" in line:
            continue  # plan reads the model's config only
        result = run_cli(verb, str(recipe), env=hub)
        assert result.returncode == 2, (verb, result.stderr[-3000:])
        assert "Traceback" not in result.stderr
        assert f"{what} = " in result.stderr and "transformers-native layout" in result.stderr
        pin = MODEL_PIN if what.endswith("base") else TOKENIZER_PIN
        assert pin in result.stderr and "native backend" in result.stderr
    assert not (tmp_path / "adapters" / "on-main").exists() or not any(
        (tmp_path / "adapters" / "on-main").iterdir()
    )
    assert not (tmp_path / "data" / ".higgs-lora-cache").exists(), "no clip was encoded"
