"""`higgs-lora studio` in a real headless browser (Debian's chromium over the DevTools protocol): the
tiny model's whole workflow through clicks, a reload mid-training, a bad upload, a path escape, and a
second action refused while one runs.

STUDIO_SCREENSHOTS=docs/images/studio makes the workflow test save a screenshot of each step there
(the README's pictures)."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from higgs_lora.studio import StudioServer
from tests.e2e.test_dataset_review import DevTools
from tests.recordings import long_recording


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Five sentences with pauses long enough that `dataset build --max-seconds 4` cuts one clip per
    # sentence: little audio to encode, short clips to train on.
    folder = tmp_path_factory.mktemp("rec")
    return long_recording(folder / "talk.wav", seed=3, pauses=(1.5, 2.0), srt=True, first=5).path


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"X-Higgs-Lora-Studio": "1"} if headers is None else headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Page:
    """The studio page in chromium, with the few gestures the tests make."""

    def __init__(self, browser: DevTools, url: str, shots: Path | None) -> None:
        self.browser, self.url, self.shots = browser, url, shots
        browser.open(url + "#project")  # the page keeps its tab in the address
        browser.call(
            "Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False
        )

    def js(self, expression: str) -> object:
        return self.browser.evaluate(expression)

    def wait(self, condition: str, seconds: float = 60) -> None:
        self.browser.wait_for(condition, seconds)

    def text(self, element_id: str) -> str:
        return str(self.js(f"document.getElementById({json.dumps(element_id)}).textContent"))

    def tab(self, name: str) -> None:
        self.js(f"document.querySelector('#tabs button[data-tab={name}]').click()")

    def click(self, element_id: str) -> None:
        self.js(f"document.getElementById({json.dumps(element_id)}).click()")

    def choose_files(self, selector: str, files: list[Path]) -> None:
        """What a user does in the file dialog: DevTools sets the input's files."""
        root = self.browser.call("DOM.getDocument")["root"]["nodeId"]
        node = self.browser.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.browser.call("DOM.setFileInputFiles", files=[str(f) for f in files], nodeId=node)

    def reload(self) -> None:
        self.js("window.beforeReload = true")
        self.browser.call("Page.reload", ignoreCache=True)
        self.wait("window.beforeReload === undefined && document.readyState === 'complete'")

    def shot(self, name: str) -> None:
        if self.shots is not None:
            self.shots.mkdir(parents=True, exist_ok=True)
            data = self.browser.call("Page.captureScreenshot", format="png")["data"]
            (self.shots / f"{name}.png").write_bytes(base64.b64decode(data))


@pytest.fixture
def studio(tmp_path: Path):
    server = StudioServer(tmp_path / "project", port=0).start()
    # a fake microphone (a beep) that needs no permission prompt, for the Record button
    browser = DevTools(
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    )  # fmt: skip
    yield server, browser
    browser.close()
    server.close()  # the test may have closed it already and started another on the project
    running = server.jobs.running()
    if running is not None:  # a failed test must not leave a training run behind
        os.kill(running.pid, 9)


def test_bad_upload_path_escape_and_busy_are_refused(studio, recording: Path, tmp_path: Path) -> None:
    server, browser = studio
    root = server.project.root
    page = Page(browser, server.url, None)
    page.wait("document.getElementById('root').textContent !== ''")
    assert server.url.startswith("http://127.0.0.1:")
    # a bad upload, through the page: a text file named .wav
    fake = tmp_path / "notes.wav"
    fake.write_text("these are not samples")
    page.tab("data")
    page.choose_files("#upload-files", [fake])
    page.click("upload")
    page.wait("document.getElementById('error').textContent.includes('nothing was saved')")
    assert "notes.wav: cannot read audio" in page.text("error")
    assert not list((root / "recordings").rglob("*.wav"))
    assert "not a recording" in post(server.url + "api/upload?set=a&name=x.exe", b"MZ")[1]["error"]
    # record in the browser: the page writes 16-bit WAV and uploads it
    page.js("document.getElementById('set-name').value = 'mic'")
    page.click("record")
    page.wait("document.getElementById('record').textContent === 'Stop recording'")
    time.sleep(1.5)
    page.click("record")
    page.wait(
        "document.getElementById('upload-status').textContent.startsWith('saved recordings/mic/recorded-')"
    )
    (recorded,) = (root / "recordings" / "mic").glob("recorded-*.wav")
    assert "s of audio" in page.text("upload-status") and recorded.stat().st_size > 44
    # path escapes: .., an absolute path, a symbolic link out of the project, a name with a slash
    (tmp_path / "secret.txt").write_text("outside")
    (root / "data" / "link.txt").symlink_to(tmp_path / "secret.txt")
    for path in ("../secret.txt", str(tmp_path / "secret.txt"), "data/link.txt", "data/../../secret.txt"):
        status, answer = get(server.url + "api/file?path=" + urllib.parse.quote(path))
        assert status == 403 and "outside the project folder" in answer["error"], path
    status, answer = post(server.url + "api/upload?set=../../x&name=a.wav", recording.read_bytes())
    assert status == 400 and "data set name '../../x'" in answer["error"]
    assert get(server.url + "api/file?path=recordings")[0] == 404  # inside, but not a file
    # what another web site could make a visitor's browser send: a plain POST, a foreign Host
    status, answer = post(server.url + "api/build", json.dumps({"set": "ann"}).encode(), headers={})
    assert status == 403 and "X-Higgs-Lora-Studio" in answer["error"]
    request = urllib.request.Request(server.url + "api/state", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(request, timeout=30)
    # a second action while one runs
    for file in (recording, recording.with_suffix(".srt")):
        assert post(server.url + f"api/upload?set=ann&name={file.name}", file.read_bytes())[0] == 200
    assert post(server.url + "api/build", json.dumps({"set": "ann"}).encode())[0] == 200
    status, answer = post(server.url + "api/build", json.dumps({"set": "ann"}).encode())
    assert status == 409 and answer["error"].startswith("busy: build is running")
    page.js("document.getElementById('set-name').value = 'ann'")
    page.click("build")
    page.wait("document.getElementById('error').textContent.startsWith('busy: build is running')")
    page.wait(
        "document.getElementById('build-log').textContent.includes('report: data/ann/report.json')", 120
    )


@pytest.mark.slow
def test_the_tiny_models_whole_workflow_through_clicks(studio, recording: Path) -> None:
    """Upload → build → review → recipe with plan's verdict → train, reload mid-run, stop, resume →
    listen to base, adapter and a checkpoint with one seed → keep it → export, merge: every step a click
    in chromium."""
    from higgs_lora import load_recipe

    server, browser = studio
    root = server.project.root
    shots = os.environ.get("STUDIO_SCREENSHOTS")
    page = Page(browser, server.url, Path(shots).resolve() if shots else None)
    page.wait("document.getElementById('root').textContent !== ''")

    # 1. voice data: upload the recording and its subtitles, build, fix a transcript
    page.tab("data")
    page.js("document.getElementById('set-name').value = 'ann'")
    page.choose_files("#upload-files", [recording, recording.with_suffix(".srt")])
    page.click("upload")
    page.wait(
        "document.getElementById('upload-status').textContent.startsWith('saved recordings/ann/talk.srt')"
    )
    page.js("document.getElementById('build-max-seconds').value = '4'")
    page.click("build")
    page.wait("document.querySelectorAll('#review tr.clip').length > 0", 180)
    clips = page.js("document.querySelectorAll('#review tr.clip').length")
    assert "report: data/ann/report.json" in page.text("build-log") and "min kept" in page.text(
        "build-report"
    )
    page.js("document.querySelector('#review tr.clip input.text').value = 'Fixed in the studio.'")
    page.click("save-edits")
    page.wait("document.getElementById('edits-status').textContent.startsWith('saved')")
    first = json.loads((root / "data/ann/train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["text"] == "Fixed in the studio."
    page.shot("1-voice-data")

    # 2. recipe: plan's verdict follows the form; the saved file is what the CLI reads
    page.tab("recipe")
    page.js(
        "{ const f = document.getElementById('recipe-form');"
        "f.elements.name.value = 'ann-tiny'; f.elements.dataset.value = 'ann';"
        "f.elements.base.value = 'tiny-random'; f.elements.max_steps.value = '8';"
        "f.elements.samples_every.value = '4'; f.elements.gpu_memory_gb.value = '8';"
        "f.dispatchEvent(new Event('change')); }"
    )
    page.wait("document.getElementById('verdict').textContent.startsWith('fits 8 GB: ')", 120)
    assert 'base = "tiny-random"' in page.text("toml")
    page.click("save-recipe")
    page.wait("document.getElementById('recipe-status').textContent === 'saved recipes/ann-tiny.toml'")
    recipe = load_recipe(root / "recipes/ann-tiny.toml")
    assert (recipe.model.base, recipe.train.max_steps, recipe.samples.every_steps) == ("tiny-random", 8, 4)
    assert page.text("toml") == (root / "recipes/ann-tiny.toml").read_text(encoding="utf-8")
    assert page.text("recipe-cli") == "higgs-lora train recipes/ann-tiny.toml"
    (root / "recipes/ann-tiny.toml").write_text(page.text("toml") + "# edited by hand\n", encoding="utf-8")
    page.js("document.getElementById('toml').textContent = ''")
    page.wait("document.getElementById('recipe-open').value === 'ann-tiny'")
    page.click("recipe-show")  # a saved file, as the CLI reads it
    page.wait("document.getElementById('toml').textContent.endsWith('# edited by hand\\n')")
    page.shot("2-recipe")

    # 3. train: start, reload while it runs, stop, resume to the end
    page.tab("train")
    page.wait("document.getElementById('train-recipe').value === 'ann-tiny'")
    page.click("train-start")
    page.wait("document.getElementById('train-state').textContent === 'running'")
    page.wait("Number(document.getElementById('loss-curve').dataset.points || 0) >= 1", 180)
    page.reload()  # the run goes on without the page; the page finds it again from the files
    page.wait("document.getElementById('train-state').textContent === 'running'")
    page.wait("Number(document.getElementById('loss-curve').dataset.points || 0) >= 1")
    assert page.text("train-cli") == "higgs-lora train recipes/ann-tiny.toml"
    # close the studio itself and start another on the project: it finds the run from its files
    server.close()
    server = StudioServer(root, port=0).start()
    page = Page(browser, server.url, page.shots)
    page.tab("train")
    page.wait("document.getElementById('train-state').textContent === 'running'")
    page.click("train-stop")
    page.wait("document.getElementById('train-state').textContent === 'stopped'", 120)
    assert "Resume with:" in page.text("train-log")
    stopped_at = page.js("document.getElementById('train-step').textContent")
    page.click("train-resume")
    page.wait("document.getElementById('train-state').textContent === 'finished'", 600)
    assert page.text("train-step") == "8 / 8", stopped_at
    page.wait("document.querySelectorAll('#samples .sample').length >= 1")
    assert (root / "adapters/ann-tiny/adapter_model.safetensors").is_file()
    page.shot("3-train")

    # 4. listen: the adapter and a checkpoint, same sentence and seed, side by side
    page.tab("listen")
    page.wait("document.getElementById('listen-adapter').value === 'ann-tiny'")
    page.wait("document.querySelectorAll('#listen-checkpoints input').length >= 1")
    page.js(
        "document.getElementById('listen-max-seconds').value = '1';"
        "document.querySelector('#listen-checkpoints input').click();"
        "document.getElementById('speak').click();"
    )
    page.wait("document.querySelectorAll('#listen-results .spoken audio').length === 3", 600)
    assert "--seed 0" in page.text("speak-cli") and "--base-only" in page.text("speak-cli")
    assert len(list((root / "listen").glob("ann-tiny-*-seed0.wav"))) == 3
    page.click("keep")  # the ticked checkpoint, kept as an adapter of its own
    page.wait("document.getElementById('keep-status').textContent.startsWith('kept checkpoint-')")
    kept = page.js("document.getElementById('keep-checkpoint').value").removeprefix("checkpoint-")
    assert (root / f"adapters/ann-tiny-step-{kept}/adapter_model.safetensors").is_file()
    page.shot("4-listen")

    # 5. use it: export, and the lines that do the same
    page.tab("use")
    page.click("export")
    page.wait("document.getElementById('use-status').textContent.includes('export: done')", 120)
    assert (root / "exports/ann-tiny.zip").is_file()
    assert "higgs-lora export adapters/ann-tiny --out exports/ann-tiny.zip" in page.text("use-lines")
    page.click("merge")
    page.wait("document.getElementById('use-status').textContent.includes('merge: done')", 300)
    assert (root / "adapters/ann-tiny/merged/config.json").is_file()
    page.shot("5-use")
    page.tab("project")
    page.wait("document.getElementById('adapters').textContent.includes('ann-tiny: 8 steps')")
    assert f"ann: {clips} clips" in page.text("datasets")
    server.close()
