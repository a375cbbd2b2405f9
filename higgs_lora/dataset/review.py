"""`dataset review`: serve review.html on 127.0.0.1 and save the user's edits back to the manifest.

Edits land in edits.json (merged with earlier ones) and the manifest is rewritten atomically from
clips.json + edits.json, so nothing the build made is lost and a rebuild keeps the edits. Only the
page, the clip files under wavs/ and one JSON endpoint are served, on the loopback interface.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from higgs_lora.core.errors import DataError, HiggsLoraError
from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.dataset.manifest import (
    Edit,
    apply_edits,
    read_clip_records,
    read_edits,
    write_edits,
    write_manifest,
)
from higgs_lora.dataset.page import render_page
from higgs_lora.dataset.report import manifest_name

MAX_BODY = 16 * 2**20
_LOCK = threading.Lock()  # one save at a time


def save_edits(root: str | Path, edits: dict[str, Any]) -> str:
    """Apply `{clip_id: {"text": str, "drop": bool}}` to the data set in `root`; returns a summary.

    Unknown ids or a non-string text raise DataError and change nothing."""
    root = Path(root)
    records = read_clip_records(root)
    known = {r.id: r for r in records}
    parsed: dict[str, Edit] = {}
    for clip_id, value in edits.items():
        if clip_id not in known:
            raise DataError(f"clip {clip_id!r} is not in {root / 'clips.json'}; reload the page.")
        if not isinstance(value, dict) or not isinstance(value.get("text", ""), str):
            raise DataError(f"clip {clip_id!r}: expected {{'text': string, 'drop': true/false}}.")
        text = " ".join(str(value.get("text", known[clip_id].text)).split())
        drop = bool(value.get("drop", False))
        if not text and not drop:
            raise DataError(f"clip {clip_id!r}: the transcript is empty; write one or tick drop.")
        parsed[clip_id] = Edit(None if text == known[clip_id].text else text, drop)
    with _LOCK:
        merged = {**read_edits(root), **parsed}
        merged = {key: e for key, e in merged.items() if e.text is not None or e.drop}
        write_edits(root, merged)
        kept = apply_edits(records, merged)
        data_format = "ljspeech" if manifest_name(root) == "metadata.csv" else "jsonl"
        manifest = write_manifest(root, kept, data_format)
        write_text_atomic(root / "review.html", render_page(root))
    fixed = sum(1 for e in merged.values() if e.text is not None and not e.drop)
    dropped = sum(1 for e in merged.values() if e.drop)
    return f"{manifest.name}: {len(kept)} clips ({fixed} transcripts fixed, {dropped} dropped by you)"


class ReviewServer:
    """The review page of `root` served on http://127.0.0.1:PORT/ (port 0: any free port)."""

    def __init__(self, root: str | Path, port: int = 0) -> None:
        self.root = Path(root).resolve()
        read_clip_records(self.root)  # fail now, with the message, if this is not a built data set
        handler = type("Handler", (_Handler,), {"root": self.root})
        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as err:
            raise HiggsLoraError(
                f"--port {port}: cannot listen on 127.0.0.1 ({err.strerror}); pick another port."
            ) from None
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread: threading.Thread | None = None

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    root: Path

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/review.html"):
            self._send(200, render_page(self.root).encode(), "text/html; charset=utf-8")
        elif path.startswith("/wavs/") and "/" not in path[6:] and path.endswith(".wav"):
            file = self.root / "wavs" / path[6:]
            if file.is_file():
                self._send(200, file.read_bytes(), "audio/wav")
            else:
                self._send(404, b"no such clip", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        if self.path != "/api/edits":
            self._send(404, b"not found", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._json(400, {"error": "empty or too large request"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict) or not isinstance(body.get("edits"), dict):
                raise DataError('expected {"edits": {clip_id: {"text": ..., "drop": ...}}}')
            self._json(200, {"message": save_edits(self.root, body["edits"])})
        except json.JSONDecodeError as err:
            self._json(400, {"error": f"not JSON ({err.msg})"})
        except DataError as err:
            self._json(400, {"error": str(err)})

    def _json(self, status: int, payload: dict[str, str]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the terminal for the address line
