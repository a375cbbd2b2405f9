"""The review page in a real headless browser (Debian's chromium), and saving edits through the
review server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from higgs_lora.dataset import BuildOptions, ReviewServer, build_dataset
from tests.recordings import long_recording


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    return found


def browse(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:  # helpers may still be exiting
        command = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", *args,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=120)


class DevTools:
    """Headless chromium driven over the DevTools protocol on a pipe (fds 3/4, NUL-separated JSON):
    no websocket client or driver package needed."""

    def __init__(self, *flags: str) -> None:
        """`flags`: more chromium switches (the studio test gives it a fake microphone)."""
        self.profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def wire() -> None:  # in the child: our pipe ends become its fds 3 and 4, inheritable
            read_end, write_end = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        command = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}", *flags, "about:blank",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._id = 0
        self.session: str | None = None

    def call(self, method: str, **params: object) -> dict:
        self._id += 1
        message: dict = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    assert "error" not in answer, answer
                    return answer["result"]
            chunk = os.read(self._read, 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, condition: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not self.evaluate(condition):
            assert time.monotonic() < deadline, f"timed out waiting for {condition}"
            time.sleep(0.05)

    def close(self) -> None:
        # Browser.close lets chromium stop its helper processes and finish writing the profile;
        # a kill would leave them writing into the folder while it is being removed.
        try:
            self.session = None
            self.call("Browser.close")
            self.process.wait(timeout=30)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)
        self.profile.cleanup()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return long_recording(tmp_path_factory.mktemp("rec") / "talk.wav", repeats=1, seed=3, srt=True).path


def build(recording: Path, out: Path) -> list[dict]:
    build_dataset([recording], out, BuildOptions(speaker="ann"), progress=False)
    lines = (out / "train.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_page_lists_every_clip_with_player_and_transcript(recording: Path, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "ann"
    rows = build(recording, out)
    assert len(rows) >= 2
    dom = browse("--dump-dom", (out / "review.html").as_uri()).stdout
    assert dom.count('<tr class="clip') == len(rows)
    for row in rows:
        assert f'data-id="{row["id"]}"' in dom and f'src="{row["audio"]}"' in dom and row["text"] in dom
    # the script ran: from file:// it cannot save, and says how to
    assert '<button id="save" disabled="">' in dom
    assert f'<span id="status">Read-only: run `higgs-lora dataset review {out}`' in dom
    shot = tmp_path / "shot.png"
    result = browse("--window-size=1200,900", f"--screenshot={shot}", (out / "review.html").as_uri())
    assert shot.is_file(), result.stderr
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (900, 1200)
    table = pixels[150 : 150 + 57 * len(rows)]  # the clip rows under the header and the save bar
    assert pixels.std() > 10 and (table < 100).mean() > 0.01  # not blank: dark text in the list


def test_review_server_saves_fixes_and_drops_to_the_manifest(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "ann"
    rows = build(recording, out)
    clips_before = (out / "clips.json").read_bytes()
    server = ReviewServer(out, port=0).start()
    try:
        dom = browse("--dump-dom", server.url).stdout
        assert dom.count('<tr class="clip') == len(rows)
        assert '<button id="save">' in dom and '<span id="status"></span>' in dom  # saving enabled
        first, second = rows[0]["id"], rows[1]["id"]
        answer = post(
            server.url, {first: {"text": "A  fixed\ttranscript.", "drop": False}, second: {"drop": True}}
        )
        assert answer == (
            200,
            {"message": f"train.jsonl: {len(rows) - 1} clips (1 transcripts fixed, 1 dropped by you)"},
        )
        status, error = post(server.url, {"no-such-clip": {"text": "x"}})
        assert status == 400 and "not in" in error["error"]
        dom = browse("--dump-dom", server.url).stdout  # the page shows the saved state
        assert "A fixed transcript." in dom and dom.count('class="clip dropped"') == 1
    finally:
        server.close()
    saved = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in saved] == [r["id"] for r in rows if r["id"] != second]
    assert saved[0]["text"] == "A fixed transcript." and saved[0]["speaker"] == "ann"
    assert (out / "clips.json").read_bytes() == clips_before and (out / rows[1]["audio"]).is_file()
    # a rebuild (same inputs) keeps the user's edits
    again = build(recording, out)
    assert again == saved


def test_the_pages_save_button_writes_the_manifest(recording: Path, tmp_path: Path) -> None:
    """The real page script: type a fix, tick drop, click save, in chromium."""
    out = tmp_path / "ann"
    rows = build(recording, out)
    server = ReviewServer(out, port=0).start()
    browser = DevTools()
    try:
        browser.open(server.url)
        browser.evaluate(
            "{ const clips = document.querySelectorAll('tr.clip');"
            "clips[0].querySelector('textarea').value = 'Typed in the browser.';"
            "clips[1].querySelector('input.drop').click();"
            "document.getElementById('save').click(); }"
        )
        browser.wait_for("document.getElementById('status').textContent.startsWith('saved')")
        assert browser.evaluate("document.querySelectorAll('tr.clip.dropped').length") == 1
        saved = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in saved] == [rows[0]["id"]] + [r["id"] for r in rows[2:]]
        assert saved[0]["text"] == "Typed in the browser."
        # reload, undo both, save: the manifest is back to what the build wrote
        browser.open(server.url + "?again")
        assert browser.evaluate("document.querySelector('tr.clip textarea').value") == "Typed in the browser."
        browser.evaluate(
            "{ const clips = document.querySelectorAll('tr.clip');"
            f"clips[0].querySelector('textarea').value = {json.dumps(rows[0]['text'])};"
            "clips[1].querySelector('input.drop').click();"
            "document.getElementById('save').click(); }"
        )
        browser.wait_for("document.getElementById('status').textContent.startsWith('saved')")
    finally:
        browser.close()
        server.close()
    restored = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert restored == rows and json.loads((out / "edits.json").read_text(encoding="utf-8")) == {}


def post(url: str, edits: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "api/edits",
        data=json.dumps({"edits": edits}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
