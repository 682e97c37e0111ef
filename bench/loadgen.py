#!/usr/bin/env python3
"""Fixed-rate HTTP/1.1 load generator with keep-alive (loopback only), for bench/run.

Issues exactly `--rate` GET requests per second to one URL over a pool of
keep-alive connections (more are opened, up to `--max-conns`, when all are
busy), for `--warmup` + `--duration` seconds. During the measured window it
counts the responses that completed, and how many bodies contained
`--expect` (e.g. "probe_success 1"). With `--pid` it samples that process's
CPU time (utime+stime from /proc/PID/stat) at the start and end of the window,
so the CPU per request is the target's own, without this driver's.

Prints one JSON object on stdout. wrk2 is not in Debian and wrk cannot hold a
rate, hence this driver; its own CPU is not counted anywhere.

Usage: loadgen.py --url 'http://127.0.0.1:9115/probe?module=http_2xx&target=...' \
                  --rate 400 --warmup 5 --duration 20 --pid 1234
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")


def system_busy() -> float:
    """Busy CPU seconds of the whole machine (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode()
    fields = data[data.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    keep = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and "close" in value.lower():
            keep = False
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()
        keep = False
    return status, body, keep


async def run(args: argparse.Namespace) -> dict:
    url = urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loadgen: loopback targets only")
    target = url.path + ("?" + url.query if url.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"User-Agent: slaprobe-bench\r\n\r\n").encode()
    expect = args.expect.encode() if args.expect else None
    loop = asyncio.get_running_loop()
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    opened = 0

    async def open_conn() -> Conn:
        nonlocal opened
        opened += 1
        r, w = await asyncio.open_connection(host, port, limit=1 << 20)
        return Conn(r, w)

    for _ in range(args.conns):
        pool.put_nowait(await open_conn())

    start = loop.time() + 0.2
    w_start = start + args.warmup
    w_end = w_start + args.duration
    st = {"sent": 0, "done": 0, "errors": 0, "win_done": 0, "win_expect": 0, "win_lat": [],
          "waited_for_conn": 0, "cpu": {}}

    def sample(label: str) -> None:
        st["cpu"][label] = (loop.time(), cpu_seconds(args.pid) if args.pid else 0.0,
                            system_busy())

    loop.call_at(w_start, sample, "start")
    loop.call_at(w_end, sample, "end")
    tasks: set[asyncio.Task] = set()

    async def one(conn: Conn, sent_at: float) -> None:
        ok_conn = True
        try:
            conn.writer.write(request)
            status, body, keep = await asyncio.wait_for(read_response(conn.reader), args.timeout)
            now = loop.time()
            st["done"] += 1
            if w_start <= now < w_end:
                st["win_done"] += 1
                st["win_lat"].append(now - sent_at)
                if status == 200 and (expect is None or expect in body):
                    st["win_expect"] += 1
            ok_conn = keep
        except Exception:  # noqa: BLE001 - counted, the connection is replaced
            st["errors"] += 1
            ok_conn = False
        if ok_conn:
            pool.put_nowait(conn)
        else:
            conn.writer.transport.abort()
            try:
                pool.put_nowait(await open_conn())
            except OSError:
                st["errors"] += 1

    total = int(args.rate * (args.warmup + args.duration))
    hard_stop = w_end + args.timeout + 5
    for i in range(total):
        due = start + i / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if loop.time() > hard_stop:
            break
        if pool.empty():
            st["waited_for_conn"] += 1
            if opened < args.max_conns:
                try:
                    pool.put_nowait(await open_conn())
                except OSError:
                    st["errors"] += 1
        conn = await pool.get()
        st["sent"] += 1
        t = asyncio.create_task(one(conn, due))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(list(tasks), timeout=args.timeout + 2)
    while not pool.empty():
        pool.get_nowait().writer.transport.abort()
    if "end" not in st["cpu"]:
        sample("end")
    (t0, c0, b0), (t1, c1, b1) = st["cpu"]["start"], st["cpu"]["end"]
    lat = sorted(st.pop("win_lat"))
    n = st["win_done"]
    out = {
        "asked_rate": args.rate, "window_s": t1 - t0, "completed": n,
        "achieved_rate": n / (t1 - t0) if t1 > t0 else 0.0,
        "expect_ok": st["win_expect"], "errors": st["errors"], "sent": st["sent"],
        "connections_opened": opened, "waited_for_conn": st["waited_for_conn"],
        "target_cpu_s": c1 - c0, "machine_busy_cores": (b1 - b0) / (t1 - t0) if t1 > t0 else None,
        "target_cpu_us_per_request": (c1 - c0) / n * 1e6 if n and args.pid else None,
        "latency_ms_p50": lat[len(lat) // 2] * 1000 if lat else None,
        "latency_ms_p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None,
    }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--max-conns", type=int, default=256)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--expect", default="")
    args = p.parse_args()
    out = asyncio.run(run(args))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
