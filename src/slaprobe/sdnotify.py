"""Talk to systemd over the sd_notify datagram protocol, without libsystemd.

Under `Type=notify` systemd passes a unix datagram socket in $NOTIFY_SOCKET;
each message is one datagram of newline-separated `KEY=VALUE` fields. The
protocol is small enough that a dependency buys nothing. Outside systemd (no
$NOTIFY_SOCKET) every method is a no-op, so the daemon calls them
unconditionally.

Usage:

    notifier = Notifier.from_environ()
    notifier.ready()                       # config loaded, store open
    interval = notifier.watchdog_interval()
    if interval:                           # ping at half the interval
        ...loop: notifier.watchdog(); await asyncio.sleep(interval / 2)
    notifier.reloading(); reload(); notifier.ready()   # on SIGHUP
    notifier.stopping()                    # on SIGTERM, before draining

Sending never raises: systemd being gone must not take the agent down.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping, MutableMapping

log = logging.getLogger(__name__)

_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(value: str | None) -> str | None:
    """$NOTIFY_SOCKET as an AF_UNIX address, or None if unset or unusable.

    A leading '@' names an abstract socket (Linux): the address starts with NUL.
    """
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # e.g. "vsock:..." (systemd 254+, VMs): not needed by an agent on a host.
    log.debug("sd_notify: unsupported NOTIFY_SOCKET %r, notifications disabled", value)
    return None


def watchdog_seconds(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog timeout systemd expects pings within, or None if none applies.

    WATCHDOG_PID, when set, names the process the watchdog is meant for; a
    child that inherited the environment must not think it is watched.
    """
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    watched_pid = environ.get("WATCHDOG_PID")
    if watched_pid:
        try:
            if int(watched_pid) != pid:
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """Sends state changes to systemd; does nothing when not run by systemd."""

    def __init__(
        self,
        address: str | None,
        watchdog: float | None = None,
    ) -> None:
        """`address`: an AF_UNIX address (abstract ones start with NUL), or None."""
        self._address = address
        self._watchdog = watchdog
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(
        cls,
        environ: MutableMapping[str, str] | None = None,
        *,
        unset: bool = False,
    ) -> Notifier:
        """Read $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID.

        `unset=True` removes them afterwards, so child processes (alert
        commands) do not talk to systemd in the agent's name.
        """
        env = os.environ if environ is None else environ
        notifier = cls(
            socket_address(env.get("NOTIFY_SOCKET")),
            watchdog_seconds(env, os.getpid()),
        )
        if unset:
            for key in _ENV_KEYS:
                env.pop(key, None)
        return notifier

    @property
    def enabled(self) -> bool:
        """True when there is a systemd to talk to."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds within which systemd wants WATCHDOG=1, or None (no watchdog).

        Ping at half of it so one late tick does not get the agent killed.
        """
        return self._watchdog if self.enabled else None

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is finished; systemd moves on to dependents."""
        return self.notify("READY=1", *self._status_field(status))

    def status(self, text: str) -> bool:
        """One line shown by `systemctl status`."""
        return self.notify(*self._status_field(text))

    def watchdog(self) -> bool:
        """The event loop is alive."""
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        """A reload began; systemd waits for the next ready().

        MONOTONIC_USEC (CLOCK_MONOTONIC) lets systemd tell this reload from an
        earlier one; systemd 253's Type=notify-reload requires it.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """Shutdown began; systemd stops expecting watchdog pings."""
        return self.notify("STOPPING=1")

    def notify(self, *fields: str) -> bool:
        """Send one datagram of `KEY=VALUE` fields; True if it was sent.

        Errors are logged at debug level and swallowed: a full or vanished
        socket must not stop the probes.
        """
        if self._address is None or not fields:
            return False
        data = "\n".join(fields).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(data, self._address)
        except OSError as exc:
            log.debug("sd_notify: sending %r failed: %s", fields, exc)
            return False
        return True

    def close(self) -> None:
        """Release the socket; later calls reopen it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @staticmethod
    def _status_field(text: str | None) -> tuple[str, ...]:
        # A newline would start a new field: systemd would read it as a key.
        if text is None:
            return ()
        return ("STATUS=" + " ".join(text.splitlines()),)
