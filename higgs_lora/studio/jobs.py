"""The studio's actions, one at a time, each a `higgs-lora` command in a process of its own.

Every long action (dataset build, train, speak, eval, merge, export) runs the very CLI command the
page shows the user, from the project folder, with its output in .studio/<kind>.log and its state
(pid, command, start, exit status) in .studio/<kind>.json. The page reads those files, so a reload,
a closed tab or a restarted studio finds the run where it is; the run itself never depends on the
page. A second action while one runs is refused with what is running and how to stop it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.studio.project import Project

KINDS = ("build", "train", "speak", "eval", "merge", "export")
LOG_TAIL = 40  # lines of a job's output the page shows


class Busy(HiggsLoraError):
    """An action was asked for while another one runs."""


@dataclass
class Job:
    kind: str
    commands: list[list[str]]  # argv lists, run one after another; what the page shows as CLI lines
    pid: int | None = None
    started: float = 0.0
    ended: float | None = None
    returncode: int | None = None
    stop_requested: bool = False

    @property
    def shell_line(self) -> str:
        return " && ".join(shlex.join(command) for command in self.commands)


class Jobs:
    """The project's jobs: start one (refused while another runs), stop it, read its state and log."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.folder = project.root / ".studio"
        self._lock = threading.Lock()
        self._started: dict[int, subprocess.Popen] = {}  # this studio's own children, by pid

    def _state_file(self, kind: str) -> Path:
        return self.folder / f"{kind}.json"

    def log_file(self, kind: str) -> Path:
        return self.folder / f"{kind}.log"

    def read(self, kind: str) -> Job | None:
        file = self._state_file(kind)
        if not file.is_file():
            return None
        return Job(**json.loads(file.read_text(encoding="utf-8")))

    def _write(self, job: Job) -> None:
        write_text_atomic(self._state_file(job.kind), json.dumps(asdict(job), indent=1))

    def running(self) -> Job | None:
        """The job whose process is alive, if any (its state file says so and the pid is still ours)."""
        for kind in KINDS:
            job = self.read(kind)
            if job is not None and job.returncode is None and self._alive(job.pid):
                return job
        return None

    def check_idle(self) -> None:
        """Busy, saying what runs and how to stop it, while a job runs."""
        current = self.running()
        if current is not None:
            since = time.strftime("%H:%M:%S", time.localtime(current.started))
            how = " or press Stop on the Train tab" if current.kind == "train" else ""
            raise Busy(
                f"busy: {current.kind} is running (since {since}: {current.shell_line}). "
                f"Wait for it to finish{how}; nothing else was started or changed."
            )

    def start(self, kind: str, commands: list[list[str]]) -> Job:
        """Run `commands` (higgs-lora argv lists, without the program) as one process; Busy if one runs."""
        with self._lock:
            self.check_idle()
            argv = [[sys.executable, "-m", "higgs_lora", *command] for command in commands]
            job = Job(kind, [["higgs-lora", *command] for command in commands], started=time.time())
            line = " && ".join(shlex.join(a) for a in argv)
            # `exec` for a single command: the pid is the higgs-lora process itself, so SIGINT reaches
            # its handler (train saves a checkpoint and stops).
            script = f"exec {line}" if len(argv) == 1 else line
            log = self.log_file(kind).open("wb")
            log.write(f"$ {job.shell_line}\n".encode())
            log.flush()
            process = subprocess.Popen(
                ["/bin/sh", "-c", script],
                cwd=self.project.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not ours to kill when the studio stops: it runs on alone
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()
            job.pid = process.pid
            self._started[process.pid] = process
            self._write(job)
        threading.Thread(target=self._reap, args=(job, process), daemon=True).start()
        return job

    def _reap(self, job: Job, process: subprocess.Popen) -> None:
        returncode = process.wait()
        latest = self.read(job.kind) or job
        if latest.pid == job.pid:
            latest.returncode, latest.ended = returncode, time.time()
            self._write(latest)

    def _alive(self, pid: int | None) -> bool:
        """Our own child until it is reaped; a run started by an earlier studio, from /proc."""
        process = self._started.get(pid) if pid is not None else None
        return process.poll() is None if process is not None else _alive(pid)

    def stop(self, kind: str) -> Job:
        """Ask the running `kind` job to stop (SIGINT: train saves a checkpoint first)."""
        job = self.read(kind)
        if job is None or job.returncode is not None or not self._alive(job.pid):
            raise HiggsLoraError(f"no {kind} is running; nothing to stop.")
        job.stop_requested = True
        self._write(job)
        os.kill(job.pid, signal.SIGINT)
        return job

    def status(self, kind: str) -> dict:
        """What the page shows of the last `kind` job: state, command, exit status, the log's tail."""
        job = self.read(kind)
        if job is None:
            return {"kind": kind, "state": "none", "log": ""}
        alive = job.returncode is None and self._alive(job.pid)
        if alive:
            state = "stopping" if job.stop_requested else "running"
        elif job.returncode is None:  # the studio that started it is gone: the files tell the rest
            state = "stopped" if job.stop_requested else "ended"
        elif job.returncode == 0:
            state = "done"
        else:
            state = "stopped" if job.stop_requested else "failed"
        return {
            "kind": kind,
            "state": state,
            "command": job.shell_line,
            "returncode": job.returncode,
            "started": job.started,
            "ended": job.ended,
            "log": tail(self.log_file(kind)),
        }


def tail(file: Path, lines: int = LOG_TAIL) -> str:
    """The last lines of a log, progress bars' carriage-return updates collapsed to their latest."""
    if not file.is_file():
        return ""
    with file.open("rb") as handle:
        handle.seek(max(file.stat().st_size - 65536, 0))
        text = handle.read().decode("utf-8", errors="replace")
    shown = [line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line for line in text.split("\n")]
    return "\n".join(line for line in shown[-lines:] if line.strip())


def _alive(pid: int | None) -> bool:
    """Whether `pid` still runs one of our commands (a reused pid of another program does not count)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc here: trust the signal check
    return state != "Z" and b"higgs_lora" in cmdline  # `sh -c '... -m higgs_lora ...'` too
