"""sd_notify against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from slaprobe.sdnotify import Notifier, socket_address, watchdog_seconds


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket and the NOTIFY_SOCKET value that reaches it."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, str(path)
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode("utf-8").split("\n")


def test_ready_status_watchdog_stopping_arrive_as_datagrams(
    systemd: tuple[socket.socket, str],
) -> None:
    sock, value = systemd
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": value})
    assert notifier.enabled
    assert notifier.ready()
    assert received(sock) == ["READY=1"]
    assert notifier.status("probing 12 targets")
    assert received(sock) == ["STATUS=probing 12 targets"]
    assert notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1"]
    notifier.close()


def test_ready_can_carry_a_status(systemd: tuple[socket.socket, str]) -> None:
    sock, value = systemd
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": value})
    notifier.ready("running")
    assert received(sock) == ["READY=1", "STATUS=running"]
    notifier.close()


def test_status_newlines_cannot_inject_fields(systemd: tuple[socket.socket, str]) -> None:
    sock, value = systemd
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": value})
    notifier.status("bad config\nREADY=1")
    assert received(sock) == ["STATUS=bad config READY=1"]
    notifier.close()


def test_reloading_sends_monotonic_usec(systemd: tuple[socket.socket, str]) -> None:
    sock, value = systemd
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": value})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = received(sock)
    assert fields[0] == "RELOADING=1"
    key, _, usec = fields[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(usec) <= after
    notifier.close()


def test_abstract_socket_name_starting_with_at() -> None:
    name = f"slaprobe-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert received(sock) == ["READY=1"]
        notifier.close()
    finally:
        sock.close()


def test_absent_notify_socket_makes_every_call_a_noop() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.reloading() is False
    assert notifier.stopping() is False
    assert notifier.watchdog_interval() is None
    notifier.close()


def test_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    notifier.close()


def test_watchdog_interval_from_watchdog_usec(systemd: tuple[socket.socket, str]) -> None:
    _, value = systemd
    env = {"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environ(env).watchdog_interval() == 30.0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "{pid}"}, 0.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "{other}"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "nope"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_seconds_honours_watchdog_pid(env: dict[str, str], expected: float | None) -> None:
    pid = os.getpid()
    filled = {k: v.format(pid=pid, other=pid + 1) for k, v in env.items()}
    assert watchdog_seconds(filled, pid) == expected


def test_no_watchdog_without_notify_socket() -> None:
    assert Notifier.from_environ({"WATCHDOG_USEC": "30000000"}).watchdog_interval() is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@abstract/name", "\0abstract/name"),
        ("vsock:2:1234", None),
    ],
)
def test_socket_address(value: str | None, expected: str | None) -> None:
    assert socket_address(value) == expected


def test_unset_keeps_children_from_inheriting_the_socket(
    systemd: tuple[socket.socket, str],
) -> None:
    _, value = systemd
    env = {"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier.from_environ(env, unset=True)
    assert env == {}
    assert notifier.enabled
    assert notifier.watchdog_interval() == 1.0
