"""Running `oms …` as a user does: a real process, a clean environment (only the settings a
test gives, no .env), its output read line by line with bounded waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from queue import Empty, Queue

# Only what a process needs to run; every OMS and bot setting comes from the test.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")


def clean_env(**settings: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in _KEPT if name in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def run_oms(
    args: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`oms ARGS` to completion (for commands that should stop by themselves)."""
    return subprocess.run(
        [sys.executable, "-m", "oms_api.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class OmsProcess:
    """`oms ARGS` running in the background; `wait_for_line` reads its output as it comes.
    As a context manager it never outlives the block: a test that failed early kills it."""

    def __init__(self, args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oms_api.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._lines: Queue[str | None] = Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the process exited

    def wait_for_line(self, text: str, timeout: float = 60) -> str:
        """Read until a line containing `text`; all output so far, joined."""
        while not any(text in line for line in self.output):
            try:
                line = self._lines.get(timeout=timeout)
            except Empty:
                raise AssertionError(
                    f"no line with {text!r} within {timeout:g} s; output: {''.join(self.output)}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"the process exited before printing {text!r}; output: {''.join(self.output)}"
                )
            self.output.append(line)
        return "".join(self.output)

    def stop(self, timeout: float = 20) -> int:
        """Ctrl+C, as a user stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the process ignored Ctrl+C for {timeout:g} s") from None

    def __enter__(self) -> OmsProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
