"""`higgs-lora studio`: the page and its JSON endpoints, on 127.0.0.1, over one project folder.

Each endpoint is one call of the public API or one `higgs-lora` command run as its own process
(studio.jobs); the studio adds no training, data or scoring logic of its own. Every path a request
names is confined to the project (studio.project); an action asked for while another runs is refused
with HTTP 409 and what is running.
"""

from __future__ import annotations

import json
import mimetypes
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.studio import actions
from higgs_lora.studio.jobs import Busy, Jobs
from higgs_lora.studio.project import OutsideProject, Project

STATIC = Path(__file__).parent / "static"
PAGE_HEADER = "X-Higgs-Lora-Studio"  # sent by the page's script with every POST
MAX_JSON = 4 * 2**20
# What the page may fetch from the project, by suffix; anything else is sent as plain text, never as a
# page (an HTML file in the project must not run script in the studio's origin).
SERVED = {".wav": "audio/wav", ".png": "image/png", ".json": "application/json", ".mp3": "audio/mpeg",
          ".flac": "audio/flac", ".ogg": "audio/ogg"}  # fmt: skip


class StudioServer:
    """The studio of `project_dir` on http://HOST:PORT/ (port 0: any free port)."""

    def __init__(self, project_dir: str | Path, port: int = 0, host: str = "127.0.0.1") -> None:
        self.project = Project(project_dir)
        self.jobs = Jobs(self.project)
        handler = type("Handler", (_Handler,), {"project": self.project, "jobs": self.jobs})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            raise HiggsLoraError(
                f"--port {port}: cannot listen on {host} ({err.strerror}); pick another port."
            ) from None
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        # `plan` imports torch and builds the model's skeleton: do it now, not on the user's first click.
        threading.Thread(target=actions.warm_up, daemon=True).start()

    def start(self) -> StudioServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving (a running job goes on: it is a process of its own); twice is fine."""
        if self.httpd.socket.fileno() != -1:
            self.httpd.shutdown()
            self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    project: Project
    jobs: Jobs

    def _foreign(self, posting: bool) -> bool:
        """Refuse (403) what another web site could make a visitor's browser send: a request whose
        Host is not this server's own address (DNS rebinding), or a POST without the page's header
        (a cross-site form or fetch cannot add it without asking first, and the server never agrees)."""
        port = self.server.server_address[1]
        allowed = {f"127.0.0.1:{port}", f"localhost:{port}", f"{self.server.server_address[0]}:{port}"}
        if self.headers.get("Host") not in allowed:
            self._json(403, {"error": "refused: open the studio at the address it printed"})
            return True
        if posting and self.headers.get(PAGE_HEADER) != "1":
            self._json(403, {"error": f"refused: POST without the studio page's {PAGE_HEADER} header"})
            return True
        return False

    def do_GET(self) -> None:
        if self._foreign(posting=False):
            return
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path in ("/", "/index.html"):
            self._file(STATIC / "index.html", "text/html; charset=utf-8")
        elif url.path in ("/studio.js", "/studio.css"):
            kind = "text/javascript" if url.path.endswith(".js") else "text/css"
            self._file(STATIC / url.path[1:], f"{kind}; charset=utf-8")
        elif url.path == "/api/file":
            self._guard(lambda: self._project_file(query.get("path", "")))
        elif url.path.startswith("/api/"):
            route = GETS.get(url.path[5:])
            if route is None:
                self._json(404, {"error": f"no such endpoint {url.path}"})
            else:
                self._guard(lambda: self._json(200, route(self.project, self.jobs, query)))
        else:
            self._json(404, {"error": f"no such page {url.path}"})

    def do_POST(self) -> None:
        if self._foreign(posting=True):
            self.close_connection = True  # its body is left unread
            return
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path == "/api/upload":
            body = _Body(self.rfile, int(self.headers.get("Content-Length") or 0))
            self._guard(lambda: self._json(200, actions.upload(self.project, self.jobs, query, body)))
            body.drain()  # a refused upload's bytes are still on the wire: read them, or the client breaks
            return
        route = POSTS.get(url.path[5:]) if url.path.startswith("/api/") else None
        if route is None:
            self._json(404, {"error": f"no such endpoint {url.path}"})
            return
        self._guard(lambda: self._json(200, route(self.project, self.jobs, self._json_body())))

    def _guard(self, work: Any) -> None:
        """Run `work`; a user's mistake comes back as JSON {"error": message}, a bug as a 500."""
        try:
            work()
        except OutsideProject as err:
            self._json(403, {"error": str(err)})
        except Busy as err:
            self._json(409, {"error": str(err)})
        except HiggsLoraError as err:
            self._json(400, {"error": str(err)})
        except Exception as err:  # a bug: say so on the page instead of a dropped connection
            self._json(500, {"error": f"internal error ({type(err).__name__}: {err}); see the terminal."})
            raise

    def _json_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_JSON:
            raise HiggsLoraError("request too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as err:
            raise HiggsLoraError(f"request is not JSON ({err.msg})") from None
        if not isinstance(body, dict):
            raise HiggsLoraError("request must be a JSON object")
        return body

    def _project_file(self, relative: str) -> None:
        path = self.project.confine(relative)
        if not path.is_file():
            self._json(404, {"error": f"{relative}: no such file in the project"})
            return
        kind = SERVED.get(path.suffix.lower()) or "text/plain; charset=utf-8"
        self._file(path, kind)

    def _file(self, path: Path, kind: str) -> None:
        self._send(200, path.read_bytes(), kind or mimetypes.guess_type(path.name)[0] or "text/plain")

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the terminal for the address line and real errors


class _Body:
    """A request body of `length` bytes, read at most once."""

    def __init__(self, stream: Any, length: int) -> None:
        self.stream, self.length, self.left = stream, length, length

    def read(self, size: int) -> bytes:
        chunk = self.stream.read(min(size, self.left)) if self.left > 0 else b""
        self.left -= len(chunk)
        return chunk

    def drain(self) -> None:
        while self.left > 0 and self.read(1 << 20):
            pass


GETS = {
    "state": actions.state,
    "recipe": actions.read_recipe,
    "train": actions.train_status,
    "dataset": actions.dataset,
    "eval": actions.eval_figures,
}
POSTS = {
    "plan": actions.plan,
    "recipe": actions.save_recipe,
    "train": actions.start_training,
    "stop": actions.stop,
    "build": actions.build,
    "edits": actions.save_edits,
    "speak": actions.speak,
    "eval": actions.evaluate,
    "keep": actions.keep,
    "merge": actions.merge,
    "export": actions.export,
}
