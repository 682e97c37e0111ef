import sys
p = sys.argv[1] + "/slaprobe/probes/http.py"
s = open(p).read()
old = '''    async def check(self, probe: Probe) -> Outcome:
        """One attempt, bounded by `probe.timeout`; never raises but cancellation."""
        if not probe.url:
            return failed("error", "no url configured")
'''
assert old in s
s = s.replace(old, old + '''        if (probe.url.startswith("http://") and not probe.follow_redirects
                and probe.body_contains is None and probe.method in ("GET", "HEAD")):
            return await _fast_check(probe)  # PROTOTYPE (bench): no httpx on the hot path
''')
s += '''

# ---------------------------------------------------------------------------------------
# PROTOTYPE for bench/: a plain-HTTP status check straight on an asyncio.Protocol.
_FAST: dict[tuple, tuple[str, int, bytes]] = {}


def _fast_request(probe: Probe) -> tuple[str, int, bytes]:
    key = (probe.url, probe.method, probe.headers)
    hit = _FAST.get(key)
    if hit is None:
        from urllib.parse import urlsplit
        u = urlsplit(probe.url)
        host, port = u.hostname or "", u.port or 80
        target = (u.path or "/") + ("?" + u.query if u.query else "")
        lines = [f"{probe.method} {target} HTTP/1.1", f"Host: {u.netloc}",
                 f"User-Agent: slaprobe/{__version__}", "Accept: */*", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in probe.headers]
        hit = _FAST[key] = (host, port, ("\\r\\n".join(lines) + "\\r\\n\\r\\n").encode("latin-1"))
    return hit


class _StatusProtocol(asyncio.Protocol):
    """Sends the request; resolves `done` with the status once the header block is in."""

    def __init__(self, request: bytes, done: asyncio.Future) -> None:
        self.request, self.done, self.buf = request, done, b""

    def connection_made(self, transport) -> None:
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\\r\\n\\r\\n")
        if end < 0:
            if len(self.buf) > 65536 and not self.done.done():
                self.done.set_exception(ValueError("header block too large"))
            return
        line = self.buf[:self.buf.find(b"\\r\\n")].split(None, 2)
        if not self.done.done():
            if len(line) >= 2 and line[0].startswith(b"HTTP/1.") and line[1].isdigit():
                self.done.set_result(int(line[1]))
            else:
                self.done.set_exception(ValueError("malformed status line"))

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionResetError("closed without a response"))


async def _fast_check(probe: Probe) -> Outcome:
    host, port, request = _fast_request(probe)
    loop = asyncio.get_running_loop()
    progress = _Progress()
    started = time.perf_counter()
    transport = None
    try:
        async with asyncio.timeout(probe.timeout):
            addresses = await resolve(host, port, socket.SOCK_STREAM)
            progress.phase = "connect"
            sock, _ = await connect(addresses)
            progress.phase = "response"
            done: asyncio.Future = loop.create_future()
            try:
                transport, _ = await loop.create_connection(
                    lambda: _StatusProtocol(request, done), sock=sock)
            except BaseException:
                sock.close()
                raise
            status = await done
    except Exception as exc:
        kind, message = _classify(exc, progress, probe.timeout)
        if isinstance(exc, ValueError):
            kind, message = "protocol", "malformed HTTP response"
        return failed(kind, message)
    finally:
        if transport is not None:
            transport.abort()
    latency_ms = (time.perf_counter() - started) * 1000
    if not status_ok(status, probe.expect_status):
        return failed("status", f"got {status}, expected {expected_text(probe.expect_status)}",
                      latency_ms)
    slow = too_slow(latency_ms / 1000, probe.max_latency)
    if slow:
        return failed("slow", slow, latency_ms)
    return Outcome(True, latency_ms, None)
'''
open(p, "w").write(s)
