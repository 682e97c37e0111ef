"""Helpers for end-to-end tests: the real CLI as a subprocess, tiny real loopback servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def slaprobe(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m slaprobe ARGS` and capture its text output."""
    return subprocess.run(
        [sys.executable, "-m", "slaprobe", *args], capture_output=True, text=input is None,
        env={**os.environ, **(env or {})}, input=input, timeout=timeout,
    )


@contextmanager
def daemon(config: Path, *extra: str, env: dict[str, str] | None = None):
    """Start `slaprobe run` in the background; stop it with SIGTERM afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "slaprobe", "run", "--config", str(config), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class SwitchableHTTP:
    """A loopback HTTP server whose answer (status code) a test can switch while it runs."""

    def __init__(self) -> None:
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                outer.hits += 1
                body = b"ok\n"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/health"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SwitchableHTTP:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float = 20.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
