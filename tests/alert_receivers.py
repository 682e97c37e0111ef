"""Real loopback receivers for alert tests: a webhook endpoint, an SMTP sink, a command.

Each records what it received, so a test asserts on exactly what an operator's
Slack, mailbox or pager script would have got.
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import sys
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class HookReceiver:
    """An HTTP endpoint taking POSTs; answers `status` (a test may switch it) and records bodies.

    With `port` it binds that port (to come up on an address a daemon already retries).
    """

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.times: list[float] = []  # when each accepted post arrived
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                if 200 <= outer.status < 300:
                    outer.posts.append((self.path, dict(self.headers), body))
                    outer.times.append(time.time())
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [json.loads(body) for p, _, body in list(self.posts) if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SmtpSink:
    """A small SMTP server (RFC 5321 subset: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, QUIT)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, str]] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 sink ESMTP")
                sender, rcpts = "", []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.wfile.write(b"250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
                    elif verb == "HELO":
                        self.reply("250 sink")
                    elif verb == "AUTH":
                        parts = line.split()
                        blob = base64.b64decode(parts[2]) if len(parts) > 2 else b""
                        _, user, password = (blob.split(b"\0") + [b"", b""])[:3]
                        outer.logins.append((user.decode(), password.decode()))
                        self.reply("235 ok")
                    elif verb == "MAIL":
                        sender, rcpts = line.split(":", 1)[1].split()[0].strip("<>"), []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        rcpts.append(line.split(":", 1)[1].split()[0].strip("<>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        data = bytearray()
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        data = data.replace(b"\r\n", b"\n")
                        outer.messages.append(message_from_bytes(bytes(data),
                                                                 policy=policy.default))
                        outer.envelopes.append((sender, rcpts))
                        self.reply("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        """The JSON details each mail carries after "Details:"."""
        out = []
        for m in list(self.messages):
            body = m.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            out.append(json.loads(text.split("Details:\n", 1)[1]))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SmtpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


COMMAND_SCRIPT = """\
import sys
data = sys.stdin.read()
with open(sys.argv[1], "a", encoding="utf-8") as f:
    f.write(data if data.endswith("\\n") else data + "\\n")
"""


def command_receiver(folder: Path) -> tuple[list[str], Path]:
    """A real command: a Python script appending its stdin (one JSON event) to a file."""
    script = folder / "record_alert.py"
    script.write_text(COMMAND_SCRIPT)
    out = folder / "command-alerts.jsonl"
    return [sys.executable, str(script), str(out)], out


def command_events(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
