#!/usr/bin/env python3
"""slaprobe vs Prometheus blackbox_exporter on the same loopback targets, in one run.

Run through `bench/run` (it installs nginx, wrk and the exporter when missing).
Everything listens on 127.0.0.1; every process started here is stopped at the
end (and on SIGINT/SIGTERM); every loop is bounded in count and time.

Benchmarks (see bench/README.md for method and caveats):
  1 cpu        CPU per check at an equal rate (HTTP, TCP, ICMP), both tools
  2 throughput most checks/s slaprobe sustains (lateness p99 <= 50 ms) vs the
               exporter's most probes/s under wrk
  3 precision  10,000 TCP probes at 30 s: lateness p50/p99/max, RSS
  4 reports    `slaprobe report` (a month, a year) and `status --json` at scale
  5 storage    bytes per raw check, bytes per probe-year of segments
"""

from __future__ import annotations

import argparse
import atexit
import collections
import datetime as dt
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"
T_START = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes
class Procs:
    """Every child we start, stopped by its own pid at exit (never by name)."""

    def __init__(self, workdir: Path):
        self.items: list[tuple[str, subprocess.Popen]] = []
        self.pidfile = workdir / "pids"

    def _save(self) -> None:
        pids = []
        for _, p in self.items:
            if p.poll() is None:
                pids.append(p.pid)
                pids.extend(children_of(p.pid))
        self.pidfile.write_text("".join(f"{pid}\n" for pid in pids))

    def start(self, name: str, cmd: list[str], logfile: Path | None = None, **kw) -> subprocess.Popen:
        out = open(logfile, "ab") if logfile else subprocess.DEVNULL
        p = subprocess.Popen(cmd, stdout=kw.pop("stdout", out), stderr=kw.pop("stderr", out),
                             stdin=subprocess.DEVNULL, **kw)
        if logfile:
            out.close()
        self.items.append((name, p))
        self._save()
        return p

    def note_children(self) -> None:
        self._save()

    def stop(self, p: subprocess.Popen, timeout: float = 30.0) -> int | None:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.items = [(n, q) for n, q in self.items if q is not p]
        self._save()
        return p.returncode

    def stop_all(self) -> None:
        for _, p in list(reversed(self.items)):
            try:
                self.stop(p, 10.0)
            except Exception as e:  # noqa: BLE001 - best effort at exit
                log(f"could not stop pid {p.pid}: {e}")


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), seconds."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of the whole process (every thread), seconds."""
    data = Path(f"/proc/{pid}/stat").read_text()
    fields = data[data.rfind(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, expect: str | None = None) -> str:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = r.read().decode()
                if expect is None or expect in body:
                    return body
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout:.0f} s: {last}")


# --------------------------------------------------------------------------- targets
def start_nginx(procs: Procs, work: Path) -> int:
    port = free_port()
    d = work / "nginx"
    (d / "tmp").mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  keepalive_requests 1000000;
  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    location / {{ default_type text/plain; return 200 "ok\\n"; }}
  }}
}}
""")
    procs.start("nginx", ["nginx", "-p", str(d), "-c", str(conf), "-g", "daemon off;"],
                d / "stdout.log")
    wait_http(f"http://{LOOPBACK}:{port}/", 10, "ok")
    procs.note_children()
    return port


BLACKBOX_YML = """modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  icmp:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


class Exporter:
    def __init__(self, procs: Procs, work: Path):
        self.procs, self.work = procs, work
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.port = free_port()
        conf = self.work / "blackbox.yml"
        conf.write_text(BLACKBOX_YML)
        self.proc = self.procs.start(
            "blackbox_exporter",
            ["prometheus-blackbox-exporter", f"--config.file={conf}",
             f"--web.listen-address={LOOPBACK}:{self.port}"], self.work / "blackbox.log")
        wait_http(f"http://{LOOPBACK}:{self.port}/metrics", 15)

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None

    def url(self, module: str, target: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/probe?module={module}&target={target}"


def exporter_target(kind: str, nginx_port: int) -> tuple[str, str]:
    return {"http": ("http_2xx", f"http://{LOOPBACK}:{nginx_port}/"),
            "tcp": ("tcp_connect", f"{LOOPBACK}:{nginx_port}"),
            "icmp": ("icmp", LOOPBACK)}[kind]


# --------------------------------------------------------------------------- slaprobe
def probes_toml(kind: str, n: int, interval: str, nginx_port: int, db: Path,
                metrics_port: int | None, timeout: str = "5s", prefix: str = "p") -> str:
    out = ["[agent]", 'name = "bench"', f'database = "{db}"', 'timezone = "UTC"',
           f'interval = "{interval}"', f'timeout = "{timeout}"']
    if metrics_port:
        out.append(f'metrics = "{LOOPBACK}:{metrics_port}"')
    out.append("")
    for i in range(n):
        out.append("[[probes]]")
        out.append(f'id = "{prefix}{kind}-{i:05d}"')
        out.append(f'kind = "{kind}"')
        if kind == "http":
            out.append(f'url = "http://{LOOPBACK}:{nginx_port}/"')
        elif kind == "tcp":
            out.append(f'host = "{LOOPBACK}"\nport = {nginx_port}')
        else:  # one echo request per check, like the exporter's icmp prober
            out.append(f'host = "{LOOPBACK}"\ncount = 1')
    return "\n".join(out) + "\n"


class Slaprobe:
    """One `slaprobe run` daemon on a generated probes.toml."""

    def __init__(self, procs: Procs, py: str, work: Path, name: str):
        self.procs, self.py = procs, py
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / "slaprobe.db"
        self.metrics_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, kind: str, n: int, interval: str, nginx_port: int,
              ready_timeout: float = 120) -> None:
        cfg = self.dir / "probes.toml"
        cfg.write_text(probes_toml(kind, n, interval, nginx_port, self.db, self.metrics_port))
        self.proc = self.procs.start("slaprobe", [self.py, "-m", "slaprobe", "run", "--config",
                                                  str(cfg)], self.dir / "daemon.log", cwd=self.dir)
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slaprobe exited {self.proc.returncode}; see "
                                   f"{self.dir / 'daemon.log'}")
            try:
                text = wait_http(f"http://{LOOPBACK}:{self.metrics_port}/metrics", 1.0)
                if re.search(rf"^slaprobe_probes {n}$", text, re.M):
                    return
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"slaprobe not ready within {ready_timeout:.0f} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def metrics(self) -> dict[str, float]:
        text = wait_http(f"http://{LOOPBACK}:{self.metrics_port}/metrics", 30)
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("slaprobe_") and not line.startswith("slaprobe_probe"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def lateness(self) -> dict[str, float | None]:
        m = self.metrics()
        key = "slaprobe_scheduler_lateness_seconds"
        q = {k: m.get(f'{key}{{quantile="{k}"}}') for k in ("0.5", "0.9", "0.99")}
        return {"p50_ms": _ms(q["0.5"]), "p90_ms": _ms(q["0.9"]), "p99_ms": _ms(q["0.99"]),
                "count": m.get(f"{key}_count")}

    def stop(self) -> None:
        if self.proc is not None:
            rc = self.procs.stop(self.proc, 60)
            if rc not in (0, -signal.SIGTERM):
                log(f"slaprobe exited {rc}; see {self.dir / 'daemon.log'}")
            self.proc = None

    def count(self, t0: float, t1: float) -> tuple[int, int]:
        """(rows, ok rows) of checks that started in [t0, t1) (wall clock seconds)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as c:
            n, ok = c.execute("SELECT count(*), coalesce(sum(ok), 0) FROM checks"
                              " WHERE ts_ms >= ? AND ts_ms < ?",
                              (int(t0 * 1000), int(t1 * 1000))).fetchone()
        return int(n), int(ok)


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread role, from /proc/PID/task. Python 3.11 does not name OS
    threads, so roles come from start order: the main thread (the event loop), then the
    first thread started (the SQLite writer, started before any probe runs), then the rest
    (asyncio.to_thread workers: the figures refresh for /metrics, retention)."""
    threads = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            data = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = data[data.rfind(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        threads.append((int(fields[19]), int(task.name), cpu))  # starttime, tid, cpu
    threads.sort()
    out = {"loop (main thread)": 0.0, "writer thread": 0.0, "helper threads": 0.0}
    others = [t for t in threads if t[1] != pid]
    for start, tid, cpu in threads:
        if tid == pid:
            out["loop (main thread)"] += cpu
        elif others and tid == others[0][1]:
            out["writer thread"] += cpu
        else:
            out["helper threads"] += cpu
    return out


def steady_window(pid: int, seconds: float) -> dict:
    """The daemon's CPU (whole process, and per thread name) over a window of wall time."""
    s0, b0 = system_busy(), cpu_split(pid)
    t0, w0, m0 = thread_cpu(pid), time.time(), time.monotonic()
    time.sleep(seconds)
    t1, w1, m1 = thread_cpu(pid), time.time(), time.monotonic()
    s1, b1 = system_busy(), cpu_split(pid)
    threads = {k: round(t1.get(k, 0.0) - t0.get(k, 0.0), 3) for k in t1}
    user, system = b1[0] - b0[0], b1[1] - b0[1]
    return {"cpu_s": user + system, "user_s": user, "system_s": system, "wall0": w0,
            "wall1": w1, "seconds": m1 - m0, "thread_cpu_s": threads,
            "machine_busy_cores": (s1 - s0) / (m1 - m0)}


def system_busy() -> float:
    """CPU seconds all processes on this machine have used (busy time of every core)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    v = [int(x) for x in fields]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK


# --------------------------------------------------------------------------- profiling
def find_pyspy(py: str) -> str | None:
    cand = Path(py).parent / "py-spy"
    if cand.exists():
        return str(cand)
    return shutil.which("py-spy")


def pyspy(pyspy_bin: str | None, pid: int, out: Path, seconds: int, fmt: str) -> bool:
    if not pyspy_bin:
        return False
    cmd = [pyspy_bin, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
           "--threads", "--format", fmt, "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode != 0:
        log(f"py-spy failed: {r.stderr.strip()[-300:]}")
        return False
    return True


_WAITS = ("EpollSelector.select (selectors.py)", "_worker (thread.py)")


def _role(thread: str) -> str:
    if "slaprobe-writer" in thread:
        return "writer thread"
    if "MainThread" in thread:
        return "loop (main thread)"
    return "helper threads"


def _category(code: list[str]) -> str:
    """What a loop-thread sample is doing, by its innermost frame (and /metrics by stack)."""
    joined = ";".join(code)
    leaf = code[-1]
    if _short(leaf) in _WAITS:
        return "waiting (epoll_wait / queue get; py-spy's idle test misses it)"
    if "metrics.py" in joined or "metrics_snapshot.py" in joined:
        return "/metrics scrape (snapshot + render)"
    if "h11/" in leaf:
        return "h11 (HTTP/1.1 parsing and state machine)"
    if "httpcore/" in leaf:
        return "httpcore (connection and request/response plumbing)"
    if "httpx/" in leaf:
        return "httpx (client, Request/Response, URL, headers)"
    if "ssl.py" in leaf:
        return "ssl"
    if "asyncio/" in leaf or "selectors.py" in leaf or "socket.py" in leaf:
        return "asyncio + sockets (loop, tasks, transports, timeouts, connect/close)"
    if "slaprobe/" in leaf:
        return "slaprobe's own code (probes, daemon, writer.put)"
    return "other stdlib (dataclasses, contextlib, enum, ...)"


def summarize_profile(raw: Path) -> dict:
    """Collapsed stacks (py-spy --threads --format raw) -> per thread role: its share of
    samples, and for the loop thread the share of each category (_category) and the top
    functions by self and inclusive samples. Shares are of that role's samples."""
    if not raw.exists():
        return {}
    roles: dict[str, dict] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, n_text = line.rpartition(" ")
        if not stack_text or not n_text.isdigit():
            continue
        n = int(n_text)
        frames = stack_text.split(";")
        thread = frames[0] if frames[0].startswith("thread ") else "?"
        code = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not code:
            continue
        total += n
        r = roles.setdefault(_role(thread), {"n": 0, "self": collections.Counter(),
                                             "incl": collections.Counter(),
                                             "cats": collections.Counter()})
        r["n"] += n
        r["self"][_short(code[-1])] += n
        for f in set(_short(f) for f in code):
            r["incl"][f] += n
        r["cats"][_category(code)] += n
    if not total:
        return {}

    def pct(c: collections.Counter[str], of: int, k: int) -> list[tuple[str, float]]:
        return [(name, round(100 * v / of, 1)) for name, v in c.most_common(k)]

    out: dict = {"samples": total, "roles": {}}
    for role, r in roles.items():
        busy = r["n"] - sum(v for k, v in r["cats"].items() if k.startswith("waiting"))
        out["roles"][role] = {
            "samples": r["n"], "share": round(100 * r["n"] / total, 1), "busy_samples": busy,
            "categories": pct(r["cats"], r["n"], 12), "self": pct(r["self"], r["n"], 20),
            "inclusive": pct(r["incl"], r["n"], 40)}
    return out


def _short(frame: str) -> str:
    """"func (path/to/file.py:123)" -> "func (file.py)" (package-relative where known)."""
    m = re.match(r"(.*) \((.*?):(\d+)\)$", frame)
    if not m:
        return frame
    path = m.group(2)
    parts = path.split("/")
    for root in ("slaprobe", "httpx", "httpcore", "h11", "asyncio", "sqlite_utils"):
        if root in parts:
            path = "/".join(parts[parts.index(root):])
            break
    else:
        path = parts[-1]
    return f"{m.group(1)} ({path})"


# --------------------------------------------------------------------------- bench 1
def bench_cpu(ctx: dict) -> dict:
    a, procs, work = ctx["args"], ctx["procs"], ctx["work"]
    rate, window, warm = a.rate, a.cpu_window, a.cpu_warmup
    interval_s = a.cpu_interval
    n = int(rate * interval_s)
    res: dict = {"rate": rate, "probes": n, "interval_s": interval_s, "window_s": window,
                 "slaprobe": {}, "exporter": {}, "profiles": {}}
    pyspy_bin = ctx["pyspy"]
    ex = ctx["exporter"]
    for kind in a.kinds:  # each kind: slaprobe, then the exporter, close together in time
        log(f"bench 1: slaprobe {kind}: {n} probes every {interval_s:g}s ({rate:g}/s)")
        sp = Slaprobe(procs, ctx["py"], work, f"cpu-{kind}")
        try:
            sp.start(kind, n, f"{interval_s:g}s", ctx["nginx_port"])
            time.sleep(warm)
            w = steady_window(sp.pid, window)
            late = sp.lateness()
            rss = rss_mb(sp.pid)
            if pyspy_bin and a.profile_s > 0 and (kind == "http" or a.profile_raw_s > 0):
                if kind == "http":
                    svg = work / "profile-http.svg"
                    log(f"bench 1: py-spy flame graph {svg.name} ({a.profile_s} s)")
                    if pyspy(pyspy_bin, sp.pid, svg, a.profile_s, "flamegraph"):
                        ctx["artifacts"].append(svg)
                if a.profile_raw_s > 0:
                    raw = work / f"profile-{kind}.txt"
                    log(f"bench 1: py-spy collapsed stacks for {kind} ({a.profile_raw_s} s)")
                    if pyspy(pyspy_bin, sp.pid, raw, a.profile_raw_s, "raw"):
                        ctx["artifacts"].append(raw)
                        res["profiles"][kind] = summarize_profile(raw)
        finally:
            sp.stop()
        rows, ok = sp.count(w["wall0"], w["wall1"])
        stored_rate = rows / w["seconds"]
        res["slaprobe"][kind] = {
            "cpu_s": w["cpu_s"], "user_s": w["user_s"], "system_s": w["system_s"],
            "machine_busy_cores": w["machine_busy_cores"],
            "checks": rows, "ok": ok, "stored_rate": stored_rate,
            "cpu_us_per_check": w["cpu_s"] / rows * 1e6 if rows else None,
            "cpu_percent_of_core": 100 * w["cpu_s"] / w["seconds"],
            "lateness": late, "rss_mb": rss, "thread_cpu_s": w["thread_cpu_s"],
            "thread_cpu_us_per_check": {k: v / rows * 1e6 for k, v in w["thread_cpu_s"].items()}
            if rows else {},
        }
        log(f"  slaprobe {kind}: {_fmt(res['slaprobe'][kind]['cpu_us_per_check'])} µs/check, "
            f"{stored_rate:.0f} stored/s, ok {ok}/{rows}, p99 lateness "
            f"{_fmt(late['p99_ms'])} ms")
        shutil.rmtree(sp.dir, ignore_errors=True)

        module, target = exporter_target(kind, ctx["nginx_port"])
        log(f"bench 1: blackbox_exporter {module} at {rate:g}/s (fixed-rate keep-alive driver)")
        ex.start()
        try:
            out = run_loadgen(ctx, ex.url(module, target), rate, warm, window, ex.proc.pid)
            out["rss_mb"] = rss_mb(ex.proc.pid)
            if kind == "http":
                body = wait_http(ex.url(module, target), 10)
                res["exporter_samples_per_probe"] = sum(
                    1 for line in body.splitlines() if line and not line.startswith("#"))
        finally:
            ex.stop()
        res["exporter"][kind] = out
        log(f"  exporter {kind}: {_fmt(out['target_cpu_us_per_request'])} µs/probe, "
            f"{out['achieved_rate']:.0f}/s, probe_success {out['expect_ok']}/{out['completed']}")
    return res


def run_loadgen(ctx: dict, url: str, rate: float, warm: float, window: float, pid: int) -> dict:
    cmd = [sys.executable, str(HERE / "loadgen.py"), "--url", url, "--rate", str(rate),
           "--warmup", str(warm), "--duration", str(window), "--pid", str(pid),
           "--conns", "32", "--expect", "probe_success 1"]
    p = ctx["procs"].start("loadgen", cmd, None, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=warm + window + 60)
    finally:
        ctx["procs"].stop(p)
    if p.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err.decode()[-500:]}")
    return json.loads(out)


def _fmt(v: float | None, nd: int = 0) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


# --------------------------------------------------------------------------- bench 2
def bench_throughput(ctx: dict) -> dict:
    a, procs, work = ctx["args"], ctx["procs"], ctx["work"]
    res: dict = {"slaprobe": {}, "exporter": {}, "criteria": {
        "lateness_p99_ms_max": 50, "stored_over_asked_min": 0.97, "ok_ratio_min": 0.99}}
    for kind in a.tput_kinds:
        steps = []
        best = None
        for rate in a.steps[kind]:
            if time.monotonic() - T_START > a.budget_s:
                log("bench 2: time budget reached; stepping stopped")
                break
            n = int(rate)
            sp = Slaprobe(procs, ctx["py"], work, f"tput-{kind}-{n}")
            log(f"bench 2: slaprobe {kind} at {rate}/s ({n} probes every 1s)")
            try:
                sp.start(kind, n, "1s", ctx["nginx_port"])
                # /metrics quantiles cover the last 5,000 checks: keep start-up out of them
                time.sleep(max(a.step_warmup, 5000 / rate + 2 - a.step_window))
                w = steady_window(sp.pid, a.step_window)
                late = sp.lateness()
                depth = sp.metrics().get("slaprobe_write_queue_depth")
            finally:
                sp.stop()
            rows, ok = sp.count(w["wall0"], w["wall1"])
            stored = rows / w["seconds"]
            dbl = db_lateness(sp.db, w["wall0"], w["wall1"], 1.0, time.time() - time.monotonic())
            step = {"asked": rate, "stored_rate": stored, "ok_ratio": ok / rows if rows else 0,
                    "lateness_p99_ms": late["p99_ms"], "lateness_p50_ms": late["p50_ms"],
                    "cpu_percent_of_core": 100 * w["cpu_s"] / w["seconds"],
                    "write_queue_depth": depth, "db_lateness": dbl,
                    "machine_busy_cores": w["machine_busy_cores"],
                    "cpu_us_per_check": w["cpu_s"] / rows * 1e6 if rows else None}
            step["pass"] = bool(late["p99_ms"] is not None and late["p99_ms"] <= 50
                                and stored >= 0.97 * rate and step["ok_ratio"] >= 0.99)
            steps.append(step)
            log(f"  {kind} {rate}/s: stored {stored:.0f}/s, ok {step['ok_ratio']:.3f}, p99 "
                f"{_fmt(late['p99_ms'], 1)} ms, CPU {step['cpu_percent_of_core']:.0f}% -> "
                f"{'pass' if step['pass'] else 'FAIL'}")
            shutil.rmtree(sp.dir, ignore_errors=True)
            if not step["pass"]:
                break
            best = rate
        res["slaprobe"][kind] = {"steps": steps, "max_sustained": best,
                                 "limit_reached": bool(steps) and not steps[-1]["pass"]}

    ex = ctx["exporter"]
    for kind in a.tput_kinds:
        module, target = exporter_target(kind, ctx["nginx_port"])
        ex.start()
        try:
            url = ex.url(module, target)
            subprocess.run(["wrk", "-t1", "-c16", f"-d{1 if a.quick else 2}s", url],
                           capture_output=True, timeout=30)  # warm the exporter up
            log(f"bench 2: wrk flat out on exporter {module} ({a.wrk_s} s, "
                f"{a.wrk_conns} connections)")
            c0 = cpu_seconds(ex.proc.pid)
            r = subprocess.run(["wrk", "-t1", f"-c{a.wrk_conns}", f"-d{a.wrk_s}s", "--latency",
                                url], capture_output=True, text=True, timeout=a.wrk_s + 60)
            c1 = cpu_seconds(ex.proc.pid)
            check = wait_http(url, 10)
        finally:
            ex.stop()
        m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
        nreq = re.search(r"(\d+) requests in ([\d.]+)(\w+)", r.stdout)
        rps = float(m.group(1)) if m else None
        reqs = int(nreq.group(1)) if nreq else None
        res["exporter"][kind] = {
            "rate": rps, "requests": reqs, "connections": a.wrk_conns,
            "cpu_us_per_probe": (c1 - c0) / reqs * 1e6 if reqs else None,
            "cpu_percent": 100 * (c1 - c0) / a.wrk_s,
            "probe_success_after": "probe_success 1" in check,
            "wrk_errors": re.findall(r"Socket errors:.*|Non-2xx.*", r.stdout),
        }
        log(f"  exporter {kind}: {rps} probes/s flat out, "
            f"{_fmt(res['exporter'][kind]['cpu_us_per_probe'])} µs/probe")
    return res


# --------------------------------------------------------------------------- bench 3
def bench_precision(ctx: dict) -> dict:
    a, procs, work = ctx["args"], ctx["procs"], ctx["work"]
    n, interval = a.precision_probes, 30.0
    log(f"bench 3: slaprobe {n} TCP probes every 30s; spread-in {interval:.0f} s, "
        f"steady {a.precision_window:.0f} s, /metrics scraped every 15 s")
    sp = Slaprobe(procs, ctx["py"], work, "precision")
    scrapes = []
    try:
        t_launch = time.monotonic()
        sp.start("tcp", n, "30s", ctx["nginx_port"], ready_timeout=300)
        startup_s = time.monotonic() - t_launch
        rss_start = rss_mb(sp.pid)
        time.sleep(interval + 2)  # every probe has run once
        c0, w0, m0, s0 = cpu_seconds(sp.pid), time.time(), time.monotonic(), system_busy()
        end = m0 + a.precision_window
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(15.0, left))
            t = time.monotonic()
            lat = sp.lateness()
            lat["scrape_s"] = time.monotonic() - t
            lat["at_s"] = t - m0
            scrapes.append(lat)
        c1, w1, m1, s1 = cpu_seconds(sp.pid), time.time(), time.monotonic(), system_busy()
        rss = rss_mb(sp.pid)
        offset = time.time() - time.monotonic()  # CLOCK_MONOTONIC is system-wide
    finally:
        sp.stop()
    rows, ok = sp.count(w0, w1)
    db_late = db_lateness(sp.db, w0, w1, interval, offset)
    final = scrapes[-1] if scrapes else {}
    res = {
        "probes": n, "interval_s": interval, "window_s": m1 - m0, "startup_s": startup_s,
        "checks": rows, "ok": ok, "rate": rows / (m1 - m0),
        "cpu_percent_of_core": 100 * (c1 - c0) / (m1 - m0),
        "cpu_us_per_check": (c1 - c0) / rows * 1e6 if rows else None,
        "machine_busy_cores": (s1 - s0) / (m1 - m0),
        "rss_mb": rss, "rss_mb_after_start": rss_start,
        "metrics_final": final, "metrics_scrapes": scrapes,
        "metrics_p99_max_ms": max((s["p99_ms"] or 0) for s in scrapes) if scrapes else None,
        "db_lateness": db_late,
    }
    log(f"  p50 {_fmt(final.get('p50_ms'), 2)} ms, p99 {_fmt(final.get('p99_ms'), 2)} ms "
        f"(/metrics); from the db over the window: p99 {_fmt(db_late.get('p99_ms'), 2)} ms, "
        f"max {_fmt(db_late.get('max_ms'), 1)} ms; RSS {rss:.0f} MB")
    return res


def db_lateness(db: Path, w0: float, w1: float, interval: float, offset: float) -> dict:
    """Per-check lateness from stored start times and each probe's phase on the monotonic
    grid (slaprobe.schedule.phase): ts_wall - offset - phase = k * interval + lateness.
    Includes the semaphore wait and the time to `ts = time.time()`; 1 ms resolution."""
    try:
        from slaprobe.schedule import phase
    except ImportError as e:
        return {"error": f"slaprobe.schedule.phase not importable: {e}"}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        names = dict(c.execute("SELECT id, name FROM probes"))
        rows = c.execute("SELECT probe_id, ts_ms FROM checks WHERE ts_ms >= ? AND ts_ms < ?",
                         (int(w0 * 1000), int(w1 * 1000))).fetchall()
    phases = {pid: phase(name, interval) for pid, name in names.items()}
    late = []
    for pid, ts_ms in rows:
        x = (ts_ms / 1000 - offset - phases[pid]) % interval
        if x > interval - 0.002:  # a hair early of its grid point (ms rounding of ts)
            x -= interval
        late.append(max(0.0, x) * 1000)
    if not late:
        return {}
    late.sort()
    q = lambda p: late[min(len(late) - 1, max(0, math.ceil(p * len(late)) - 1))]  # noqa: E731
    return {"n": len(late), "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99),
            "p999_ms": q(0.999), "max_ms": late[-1], "over_10ms": sum(x > 10 for x in late)}


# --------------------------------------------------------------------------- bench 4 + 5
REPORT_TOML_HEAD = """[agent]
name = "bench"
database = "{db}"
timezone = "UTC"
interval = "60s"

[sla.gold]
objective = 99.9
credits = [{{ below = 99.9, percent = 10 }}, {{ below = 99.0, percent = 25 }}]

[sla.office]
objective = 99.5
hours = "Mon-Fri 08:00-18:00"
timezone = "Europe/Berlin"

[[maintenance]]
id = "weekly-patch"
rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=4;BYMINUTE=0"
duration = "30m"
"""


def report_config(path: Path, db: Path, n: int, clients: int = 10) -> None:
    out = [REPORT_TOML_HEAD.format(db=db)]
    for c in range(clients):
        out.append(f'[clients.c{c:02d}]\nname = "Client {c:02d}"\n'
                   f'sla = "{"office" if c % 5 == 4 else "gold"}"\n')
    for i in range(n):
        out.append(f'[[probes]]\nid = "{_rid(i)}"\nclient = "c{i % clients:02d}"\n'
                   f'kind = "tcp"\nhost = "{LOOPBACK}"\nport = 9\n')
    path.write_text("\n".join(out))


def _rid(i: int) -> str:
    return f"svc-{i:04d}"


def synth_checks(n_probes: int, start: float, end: float, interval: float, seed: int):
    """Time-ordered batches of synthetic checks, as a daemon would write them.

    Each probe: latency around its own base (lognormal-ish jitter), about two outages
    per 30 days of 3-30 minutes (failed checks with error "refused: ..."), else ok."""
    from slaprobe.checks import Check

    rnd = random.Random(seed)
    base = [rnd.uniform(0.3, 40.0) for _ in range(n_probes)]
    phase = [rnd.uniform(0, interval) for _ in range(n_probes)]
    outages: list[list[tuple[float, float]]] = []
    span = end - start
    for _ in range(n_probes):
        k = max(0, round(rnd.gauss(2 * span / (30 * 86400), 1)))
        spans = []
        for _ in range(k):
            s = rnd.uniform(start, end)
            spans.append((s, s + rnd.uniform(180, 1800)))
        outages.append(sorted(spans))
    names = [_rid(i) for i in range(n_probes)]
    steps = int(span // interval)
    batch = []
    gauss = rnd.gauss
    for k in range(steps):
        t = start + k * interval
        for p in range(n_probes):
            ts = t + phase[p]
            down = any(s <= ts < e for s, e in outages[p]) if outages[p] else False
            if down:
                batch.append(Check(names[p], ts, False, None, "refused: connection refused",
                                   interval, "bench"))
            else:
                lat = base[p] * (1 + abs(gauss(0, 0.15)))
                batch.append(Check(names[p], ts, True, round(lat, 3), None, interval, "bench"))
        if len(batch) >= 20_000:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(db: Path, n_probes: int, start: float, end: float, seed: int,
         config: Path | None = None) -> dict:
    from slaprobe.store import Store

    t0 = time.perf_counter()
    rows = 0
    store = Store(db)
    try:
        for batch in synth_checks(n_probes, start, end, 60.0, seed):
            store.insert_checks(batch)
            rows += len(batch)
        secs = time.perf_counter() - t0
        # The daemon folds each completed hour's latencies into digests every minute,
        # with its configuration's SLA hours; a history inserted at once is folded here,
        # timed apart.
        t1 = time.perf_counter()
        if config is not None:
            from slaprobe.config import load_config
            from slaprobe.hours import probe_hours_specs

            store.set_sla_hours(probe_hours_specs(load_config(config)))
        folded = store.roll_up(end)
        roll = time.perf_counter() - t1
    finally:
        store.close()
    return {"probes": n_probes, "rows": rows, "seconds": secs, "rows_per_s": rows / secs,
            "days": (end - start) / 86400, "rollup_seconds": roll, "rolled_up": folded}


# Per table: the columns that hold a check's time and move with a replica's shift.
# Digests (latency_rollups), roll-up state and SLA-hours specs are copied as they are.
_REPLICA_SHIFT = {"checks": ("ts_ms",), "segments": ("first_ms", "last_ms"),
                  "probe_state": ("last_ts_ms", "since_ms")}
_REPLICA_SKIP = {"period_figures", "ship_queue"}  # a daemon's caches and queues


def replicate(src: Path, dst: Path, base: int, target: int, shift_s: float = 5820.0) -> dict:
    """`dst`: the history of `src`'s `base` probes copied until it holds `target` probes.

    Filling 1,000 probe-years through `Store.insert_checks` takes 1.5 h; copying rows in
    SQL takes minutes, so a report can be timed at 1,000 probes instead of extrapolated.
    Copy k of probe i is probe ``i + k * base`` (the same client and SLA in
    `report_config`, so its SLA-hours digests stay right), its checks and segments moved
    ``k * shift_s`` later: a client's probes fail at different times, as distinct
    histories would, and its merged incidents are as many as theirs."""
    t0 = time.perf_counter()
    dst.unlink(missing_ok=True)
    tmp = dst.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    c = sqlite3.connect(src)
    try:
        odd = c.execute("SELECT count(*) FROM probes WHERE id > ? OR name != "
                        "printf('svc-%04d', id - 1)", (base,)).fetchone()[0]
        if odd:
            raise ValueError(f"{src}: probes are not svc-0000.. with ids 1..{base}")
        c.execute("VACUUM INTO ?", (str(tmp),))
    finally:
        c.close()
    c = sqlite3.connect(tmp)
    rows = 0
    try:
        c.execute("PRAGMA synchronous = OFF")
        tables = {}
        for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            cols = [r[1] for r in c.execute(f"PRAGMA table_info({t})")]
            if "probe_id" in cols and t not in _REPLICA_SKIP:
                tables[t] = cols
        for k in range(1, -(-target // base)):
            off, shift = k * base, round(k * shift_s * 1000)
            c.execute("INSERT INTO probes (id, name) SELECT id + ?, printf('svc-%04d', id - 1 + ?)"
                      " FROM probes WHERE id <= ? AND id + ? <= ?", (off, off, base, off, target))
            for t, cols in tables.items():
                moved = _REPLICA_SHIFT.get(t, ())
                sel = ", ".join("probe_id + :off" if col == "probe_id" else
                                f"{col} + :shift" if col in moved else col for col in cols)
                cur = c.execute(f"INSERT INTO {t} ({', '.join(cols)}) SELECT {sel} FROM {t} "
                                "WHERE probe_id <= :base AND probe_id + :off <= :target",
                                {"off": off, "shift": shift, "base": base, "target": target})
                rows += max(cur.rowcount, 0)
            c.commit()
        c.execute("PRAGMA journal_mode = WAL")
    finally:
        c.close()
    tmp.rename(dst)
    return {"base_probes": base, "probes": target, "rows_copied": rows, "shift_s": shift_s,
            "seconds": time.perf_counter() - t0, "bytes": dst.stat().st_size}


def time_cli(py: str, args: list[str], reps: int, env: dict[str, str] | None = None) -> dict:
    times = []
    size = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        r = subprocess.run([py, "-m", "slaprobe", *args], capture_output=True, timeout=600,
                           env=None if env is None else {**os.environ, **env})
        times.append(time.perf_counter() - t0)
        if r.returncode not in (0, 1):
            raise RuntimeError(f"slaprobe {' '.join(args)} exited {r.returncode}: "
                               f"{r.stderr.decode()[-400:]}")
        size = len(r.stdout)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": times,
            "output_bytes": size}


def extrapolate(n_small: int, t_small: float, n_big: int, t_big: float, n: int) -> dict:
    per = (t_big - t_small) / (n_big - n_small) if n_big != n_small else 0.0
    fixed = t_big - per * n_big
    return {"fixed_s": fixed, "per_probe_ms": per * 1000, "at": n, "estimate_s": fixed + per * n}


def bench_reports(ctx: dict) -> dict:
    a, work, py = ctx["args"], ctx["work"], ctx["py"]
    now = time.time()
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    month_start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    prev_month = (month_start - dt.timedelta(days=1)).replace(day=1)
    year_start = month_start.replace(year=month_start.year - 1)
    period = prev_month.strftime("%Y-%m")
    res: dict = {"target_probes": 1000}
    # As a pip install would: byte-compile the package, so CLI timings measure the
    # commands, not compiling their modules (this machine sets PYTHONDONTWRITEBYTECODE).
    subprocess.run([py, "-c", "import compileall, slaprobe, os; "
                    "compileall.compile_dir(os.path.dirname(slaprobe.__file__), quiet=1)"],
                   check=False, timeout=300)
    d = work / "reports"
    d.mkdir(exist_ok=True)
    reps = a.report_reps
    # From 200 probes on a report runs a process per core (report_shards); the sizes here
    # are smaller, so the runs that are extrapolated to 1,000 probes are told to shard as
    # 1,000 probes would be, and the slope is the per-probe cost with that many processes.
    from slaprobe.report_shards import WORKERS_ENV, worker_count

    workers = worker_count(1000, {})
    shard = {WORKERS_ENV: str(workers)}
    res["report_workers"] = workers

    # -- a month (and this month so far, for status) -------------------------------
    pm = a.month_probes
    mdb = d / "month.db"
    q = max(1, pm // 4)
    cfg_full, cfg_q = d / "month-full.toml", d / "month-quarter.toml"
    report_config(cfg_full, mdb, pm)
    report_config(cfg_q, mdb, q)
    log(f"bench 4: filling {mdb.name}: {pm} probes x 60 s from {prev_month:%Y-%m-%d} to now")
    res["month_fill"] = fill(mdb, pm, prev_month.timestamp(), now, seed=1, config=cfg_full)
    log(f"  {res['month_fill']['rows']:,} checks in {res['month_fill']['seconds']:.1f} s "
        f"({res['month_fill']['rows_per_s']:,.0f} checks/s via Store.insert_checks)")
    res["cli_startup"] = time_cli(py, ["check", "--config", str(cfg_q)], reps)
    month = {}
    for label, cfg, n in (("quarter", cfg_q, q), ("full", cfg_full, pm)):
        log(f"bench 4: report --period {period} ({n} probes), status --json ({n} probes)")
        month[label] = {
            "probes": n,
            "report": time_cli(py, ["report", "--config", str(cfg), "--db", str(mdb),
                                    "--period", period, "--format", "json"], reps, shard),
            "status": time_cli(py, ["status", "--config", str(cfg), "--db", str(mdb),
                                    "--json"], reps),
        }
    res["month"] = {"period": period, **month,
                    "report_at_1000": extrapolate(q, month["quarter"]["report"]["median_s"], pm,
                                                  month["full"]["report"]["median_s"], 1000),
                    "status_at_1000": extrapolate(q, month["quarter"]["status"]["median_s"], pm,
                                                  month["full"]["status"]["median_s"], 1000)}

    if a.direct:
        res["month_direct"] = at_1000(py, d, mdb, pm, ["--period", period], reps, "month")

    res["status"] = bench_status(ctx, d, now)

    # -- a year ----------------------------------------------------------------------
    py_n = a.year_probes
    ydb = d / "year.db"
    log(f"bench 4: filling {ydb.name}: {py_n} probes x 60 s, {year_start:%Y-%m-%d} to "
        f"{month_start:%Y-%m-%d}")
    yq = max(1, py_n // 4)
    ycfg_full, ycfg_q = d / "year-full.toml", d / "year-quarter.toml"
    report_config(ycfg_full, ydb, py_n)
    report_config(ycfg_q, ydb, yq)
    res["year_fill"] = fill(ydb, py_n, year_start.timestamp(), month_start.timestamp(), seed=2,
                            config=ycfg_full)
    log(f"  {res['year_fill']['rows']:,} checks in {res['year_fill']['seconds']:.1f} s")
    span = ["--from", year_start.strftime("%Y-%m-%d"), "--to", month_start.strftime("%Y-%m-%d")]
    year = {}
    for label, cfg, n in (("quarter", ycfg_q, yq), ("full", ycfg_full, py_n)):
        log(f"bench 4: report a year ({n} probes, all raw checks kept)")
        year[label] = {"probes": n, "report": time_cli(
            py, ["report", "--config", str(cfg), "--db", str(ydb), *span, "--format", "json"],
            reps, shard)}
    res["year_raw"] = {**year, "report_at_1000": extrapolate(
        yq, year["quarter"]["report"]["median_s"], py_n, year["full"]["report"]["median_s"],
        1000)}

    # -- storage (bench 5), then the year after retention -----------------------------
    res["storage"] = {"month_raw": storage(mdb, pm, None), "year_raw": storage(ydb, py_n, 1.0)}
    keep_days = 90
    log(f"bench 4: pruning the year to the default keep_raw ({keep_days} d), then VACUUM")
    from slaprobe.store import Store
    t0 = time.perf_counter()
    with Store(ydb) as s:
        pruned = s.prune(month_start.timestamp() - keep_days * 86400)
    res["prune"] = {"deleted": pruned, "seconds": time.perf_counter() - t0}
    year = {}
    for label, cfg, n in (("quarter", ycfg_q, yq), ("full", ycfg_full, py_n)):
        log(f"bench 4: report a year ({n} probes, raw checks for the last {keep_days} d only)")
        year[label] = {"probes": n, "report": time_cli(
            py, ["report", "--config", str(cfg), "--db", str(ydb), *span, "--format", "json"],
            reps, shard)}
    res["year_pruned"] = {**year, "keep_raw_days": keep_days, "report_at_1000": extrapolate(
        yq, year["quarter"]["report"]["median_s"], py_n, year["full"]["report"]["median_s"],
        1000)}
    res["storage"]["year_pruned"] = storage(ydb, py_n, 1.0,
                                            pruned_years=(365 - keep_days) / 365,
                                            pruned_before=month_start.timestamp()
                                            - keep_days * 86400)
    if a.direct:
        res["year_pruned_direct"] = at_1000(py, d, ydb, py_n, span, reps, "year")
    return res


def at_1000(py: str, d: Path, db: Path, n: int, span: list[str], reps: int,
            label: str) -> dict:
    """`report` of 1,000 probes timed directly (JSON and the terminal table), on `db`'s
    history of `n` probes copied to 1,000 (`replicate`); the copy is removed after."""
    big, cfg = d / f"{label}-1000.db", d / f"{label}-1000.toml"
    log(f"bench 4: copying {db.name}'s {n} probes to 1,000 probes ({big.name})")
    out: dict = {"replicate": replicate(db, big, n, 1000)}
    log(f"  {out['replicate']['rows_copied']:,} rows in {out['replicate']['seconds']:.0f} s")
    report_config(cfg, big, 1000)
    try:
        for fmt in ("json", "table"):
            log(f"bench 4: report {' '.join(span)} --format {fmt} (1,000 probes, measured)")
            out[fmt] = time_cli(py, ["report", "--config", str(cfg), *span, "--format", fmt],
                                reps)
    finally:
        for f in (big, big.with_name(big.name + "-wal"), big.with_name(big.name + "-shm")):
            f.unlink(missing_ok=True)
    return out


def bench_status(ctx: dict, d: Path, now: float) -> dict:
    """`status` at 1,000 probes, measured rather than extrapolated: computed by the
    command itself (no daemon), then from the figures a running daemon caches.

    The history is the last `status_days` days at 60 s (a steady probe's segments and
    its failed checks are what status reads, so more days cost little more)."""
    a, py = ctx["args"], ctx["py"]
    n, days = a.status_probes, a.status_days
    db, cfg = d / "status.db", d / "status.toml"
    log(f"bench 4: filling {db.name}: {n} probes x 60 s for the last {days:g} days")
    out: dict = {"probes": n, "days": days, "fill": fill(db, n, now - days * 86400, now, seed=3)}
    report_config(cfg, db, n)
    args = ["status", "--config", str(cfg), "--db", str(db)]
    log(f"bench 4: status ({n} probes, no daemon: figures computed by the command)")
    out["computed_json"] = time_cli(py, [*args, "--json"], a.report_reps)
    out["computed_table"] = time_cli(py, args, a.report_reps)
    # A daemon on the same file caches this period's figures at start-up, as in service.
    port = free_port()
    cached_cfg = d / "status-daemon.toml"
    cached_cfg.write_text(cfg.read_text().replace(
        'interval = "60s"\n', f'interval = "60s"\nmetrics = "{LOOPBACK}:{port}"\n', 1))
    proc = ctx["procs"].start("slaprobe-status", [py, "-m", "slaprobe", "run", "--config",
                                                  str(cached_cfg)], d / "status-daemon.log")
    deadline = time.monotonic() + 120
    cached = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
                    cached = c.execute("SELECT count(*) FROM period_figures").fetchone()[0]
            except sqlite3.Error:
                continue
            if cached >= n:
                break
    finally:
        ctx["procs"].stop(proc, 60)
    out["daemon_cached_probes"] = cached
    if cached >= n:
        log(f"bench 4: status ({n} probes, figures cached by the daemon)")
        out["cached_json"] = time_cli(py, [*args, "--json"], a.report_reps)
        out["cached_table"] = time_cli(py, args, a.report_reps)
    else:
        log(f"bench 4: the daemon cached figures for {cached} of {n} probes; see "
            f"{d / 'status-daemon.log'}")
    return out


def storage(db: Path, n_probes: int, years: float | None, pruned_years: float = 0.0,
            pruned_before: float | None = None) -> dict:
    """VACUUM, then bytes per table from the dbstat virtual table (used bytes: page size
    minus unused space, so a table smaller than a page is not rounded up to 4 KiB); without
    dbstat only the file size is known. `years`: the span the segments cover;
    `pruned_years`: the span before `pruned_before` whose raw ok checks were pruned, of
    which only latency digests (per day and month, each row's digest + ~16 B of key) stay."""
    c = sqlite3.connect(str(db))
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("PRAGMA journal_mode = DELETE")
        c.execute("VACUUM")
        size = db.stat().st_size
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                for t in ("checks", "segments", "latency_rollups") if t in names}
        # What pruned time keeps of latencies: day and month digests (counts only).
        horizon_ms = int(pruned_before * 1000) if pruned_before else None
        kept_digest_bytes = (c.execute(
            "SELECT coalesce(sum(length(digest) + 16), 0) FROM latency_rollups"
            " WHERE start_ms < ?", (horizon_ms,)).fetchone()[0]
            if horizon_ms and "latency_rollups" in names else 0)
        failed = c.execute("SELECT count(*) FROM checks WHERE ok = 0").fetchone()[0]
        try:
            stat = {name: {"pages_bytes": pg, "used_bytes": pg - unused}
                    for name, pg, unused in c.execute(
                        "SELECT name, sum(pgsize), sum(unused) FROM dbstat GROUP BY name")}
        except sqlite3.Error:
            stat = {}
        c.execute("PRAGMA journal_mode = WAL")
    finally:
        c.close()
    out: dict = {"file_bytes": size, "rows": rows, "failed_checks": failed, "tables": stat,
                 "dbstat": bool(stat),
                 "file_bytes_per_check": size / rows["checks"] if rows.get("checks") else None}
    if stat:
        used = lambda t: stat.get(t, {}).get("used_bytes", 0)  # noqa: E731
        if rows.get("checks"):
            out["checks_bytes_per_check"] = used("checks") / rows["checks"]
            # hour, day and month latency digests while raw checks are kept
            out["digest_bytes_per_check"] = used("latency_rollups") / rows["checks"]
        if rows.get("segments"):
            out["segment_row_bytes"] = used("segments") / rows["segments"]
        out["segments_per_probe"] = rows.get("segments", 0) / n_probes
        if years:
            out["segments_per_probe_year"] = rows.get("segments", 0) / n_probes / years
            out["segments_mb_per_probe_year"] = used("segments") / n_probes / years / 1e6
        if pruned_years and rows.get("latency_rollups"):
            hist = kept_digest_bytes / n_probes / pruned_years
            kept_failed = (out.get("checks_bytes_per_check", 0) * failed / n_probes
                           / (years or 1.0))
            out["latency_digests_mb_per_probe_year"] = hist / 1e6
            out["long_term_mb_per_probe_year"] = (
                out.get("segments_mb_per_probe_year", 0) + hist / 1e6 + kept_failed / 1e6)
    return out


# --------------------------------------------------------------------------- report
def goal(value: float | None, limit: float) -> str:
    return "n/a" if value is None else ("yes" if value <= limit else "no")


def build_table(r: dict) -> list[list[str]]:
    rows = [["benchmark", "slaprobe", "blackbox_exporter", "ratio", "goal", "met"]]
    b1 = r.get("cpu")
    goals = {"http": 0.5, "tcp": 0.25, "icmp": 0.2}
    if b1:
        for kind, g in goals.items():
            if kind not in b1["slaprobe"] and kind not in b1["exporter"]:
                continue
            s = b1["slaprobe"].get(kind, {}).get("cpu_us_per_check")
            e = b1["exporter"].get(kind, {}).get("target_cpu_us_per_request")
            ratio = s / e if s and e else None
            rows.append([f"CPU per {kind.upper()} check at {b1['rate']:g}/s", f"{_fmt(s)} µs",
                         f"{_fmt(e)} µs", _fmt(ratio, 2) + "x", f"≤ {g}x", goal(ratio, g)])
    b2 = r.get("throughput")
    if b2:
        for kind in ("http", "tcp", "icmp"):
            s = b2["slaprobe"].get(kind)
            e = b2["exporter"].get(kind)
            if not s and not e:
                continue
            best = s.get("max_sustained") if s else None
            stxt = "n/a" if s is None else (
                f"{best or '<' + str(s['steps'][0]['asked'] if s['steps'] else '?')}/s"
                + ("" if s.get("limit_reached") else " (no limit hit)"))
            etxt = "n/a" if not e or e.get("rate") is None else f"{e['rate']:.0f}/s"
            ratio = best / e["rate"] if best and e and e.get("rate") else None
            rows.append([f"max {kind.upper()} checks/s (p99 lateness ≤ 50 ms)", stxt,
                         etxt + " (wrk flat out)", _fmt(ratio, 2) + "x", "—", "—"])
    b3 = r.get("precision")
    if b3:
        f = b3["metrics_final"]
        dbl = b3.get("db_lateness", {})
        rows.append([f"{b3['probes']:,} TCP probes @30s: lateness p50 / p99 (/metrics)",
                     f"{_fmt(f.get('p50_ms'), 2)} / {_fmt(f.get('p99_ms'), 2)} ms", "—", "—",
                     "p99 ≤ 10 ms", goal(f.get("p99_ms"), 10)])
        rows.append([" … p99 / max over the steady window (from stored start times)",
                     f"{_fmt(dbl.get('p99_ms'), 1)} / {_fmt(dbl.get('max_ms'), 1)} ms", "—", "—",
                     "p99 ≤ 10 ms", goal(dbl.get("p99_ms"), 10)])
        rows.append([f"{b3['probes']:,} TCP probes @30s: RSS", f"{b3['rss_mb']:.0f} MB", "—",
                     "—", "≤ 100 MB", goal(b3["rss_mb"], 100)])
    b4 = r.get("reports")
    if b4:
        m = b4["month"]
        e = m["report_at_1000"]["estimate_s"]
        rows.append([f"report a month, 1,000 probes (est. from {m['full']['probes']} and "
                     f"{m['quarter']['probes']})", f"{e:.2f} s", "—", "—", "≤ 1 s", goal(e, 1)])
        rows += _direct_rows(b4.get("month_direct"), "report a month", 1)
        for key, label in (("year_raw", "all raw kept"), ("year_pruned", "keep_raw 90 d")):
            y = b4[key]
            e = y["report_at_1000"]["estimate_s"]
            rows.append([f"report a year, 1,000 probes, {label} (est. from "
                         f"{y['full']['probes']} and {y['quarter']['probes']})", f"{e:.2f} s",
                         "—", "—", "≤ 3 s", goal(e, 3)])
        rows += _direct_rows(b4.get("year_pruned_direct"), "report a year, keep_raw 90 d", 3)
        st1 = b4.get("status", {})
        for key, label in (("cached_table", "status (table), figures cached by the daemon"),
                           ("cached_json", "status --json, figures cached by the daemon"),
                           ("computed_table", "status (table), no daemon: computed"),
                           ("computed_json", "status --json, no daemon: computed")):
            if key in st1:
                e = st1[key]["median_s"]
                rows.append([f"{label}, {st1['probes']:,} probes", f"{e:.2f} s", "—", "—",
                             "≤ 0.5 s", goal(e, 0.5)])
        st = b4["storage"]
        raw = st["month_raw"]
        anchor = r.get("prometheus_anchor", {})
        rows.append(["bytes per raw check (checks table, after VACUUM)",
                     f"{_fmt(raw.get('checks_bytes_per_check'), 1)} B "
                     f"(+ {_fmt(raw.get('digest_bytes_per_check'), 1)} B digests; "
                     f"file: {_fmt(raw.get('file_bytes_per_check'), 1)} B)",
                     anchor.get("per_check_text", "—"), "—", "—", "—"])
        y = st["year_raw"]
        rows.append(["segments table per steady probe-year",
                     f"{_fmt(y.get('segments_mb_per_probe_year'), 4)} MB "
                     f"({_fmt(y.get('segments_per_probe_year'))} rows)",
                     anchor.get("per_probe_year_text", "—"), "—", "≤ 0.3 MB",
                     goal(y.get("segments_mb_per_probe_year"), 0.3)])
        yp = st.get("year_pruned", {})
        if yp.get("long_term_mb_per_probe_year") is not None:
            rows.append([" … all kept after keep_raw (segments + latency digests + failed checks)",
                         f"{yp['long_term_mb_per_probe_year']:.2f} MB", "—", "—", "(≤ 0.3 MB)",
                         goal(yp["long_term_mb_per_probe_year"], 0.3)])
    return rows


def _direct_rows(direct: dict | None, what: str, limit: float) -> list[list[str]]:
    """Table rows of an `at_1000` measurement: JSON against the goal, the table beside."""
    if not direct:
        return []
    base = direct["replicate"]["base_probes"]
    e, t = direct["json"]["median_s"], direct["table"]["median_s"]
    return [[f"{what}, 1,000 probes, measured (history of {base} copied)", f"{e:.2f} s", "—",
             "—", f"≤ {limit:g} s", goal(e, limit)],
            [" … the same as the terminal table", f"{t:.2f} s", "—", "—",
             f"(≤ {limit:g} s)", goal(t, limit)]]


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths)]
                     + [line(r) for r in rows[1:]])


def markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def machine() -> dict:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    osr = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            k, _, v = line.partition("=")
            osr[k] = v.strip('"')
    except OSError:
        pass
    def ver(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            return "?"
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_mb": mem,
            "os": osr.get("PRETTY_NAME", platform.platform()), "kernel": platform.release(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "nginx": ver(["nginx", "-v"]),
            "blackbox_exporter": ver(["prometheus-blackbox-exporter", "--version"]),
            "wrk": ver(["wrk", "-v"])}


def source_digest() -> dict:
    """Which slaprobe was measured: its path and a SHA-256 over its .py files (the tree
    changes under concurrent development; git is not consulted here)."""
    import hashlib
    import slaprobe
    root = Path(slaprobe.__file__).parent
    h = hashlib.sha256()
    files = sorted(root.rglob("*.py"))
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return {"path": str(root), "files": len(files), "sha256": h.hexdigest()[:16],
            "version": getattr(slaprobe, "__version__", "?")}


def prometheus_anchor(r: dict) -> dict:
    """What the exporter's checks would cost in Prometheus' TSDB at 1-2 bytes/sample."""
    per_probe = r.get("cpu", {}).get("exporter_samples_per_probe")
    if not per_probe:
        return {}
    samples = per_probe + 5  # + up, scrape_duration_seconds, scrape_samples_* (Prometheus')
    year = 365 * 1440  # checks per probe-year at 60 s
    return {"samples_per_check": samples, "bytes_per_check": [samples * 1.0, samples * 2.0],
            "per_check_text": f"{samples} samples ≈ {samples}–{2 * samples} B (TSDB)",
            "mb_per_probe_year_60s": [samples * year * 1.0 / 1e6, samples * year * 2.0 / 1e6],
            "per_probe_year_text": f"≈ {samples * year / 1e6:.0f}–{2 * samples * year / 1e6:.0f}"
                                   " MB at 60 s (TSDB)"}


def write_results_md(r: dict, table: list[list[str]]) -> None:
    m = r["machine"]
    lines = [
        "# slaprobe vs blackbox_exporter — results",
        "",
        f"Date: {r['date']}. Written by `bench/run{' --quick' if r['quick'] else ''}` "
        f"in {r['elapsed_s']:.0f} s (method and caveats: [README.md](README.md)).",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['mem_mb']} MB RAM, {m['os']}, "
        f"kernel {m['kernel']}; Python {m['python']}, SQLite {m['sqlite']}; "
        f"{m['nginx']}; {m['blackbox_exporter']}; {m['wrk']}.",
        "",
        f"slaprobe measured: {r['slaprobe_source']['path']} (source digest "
        f"{r['slaprobe_source']['sha256']}, {r['slaprobe_source']['files']} files). "
        f"Load average at start {' '.join(r['loadavg_start'])}, at end "
        f"{' '.join(r['loadavg_end'])} (other work shared this machine; see "
        "`machine_busy_cores` per window in results.json).",
        "",
        markdown_table(table),
        "",
        "The exporter's figures leave out Prometheus' scrape and storage cost, so every "
        "comparison here flatters the exporter. Figures marked “est.” are linear "
        "extrapolations from two measured sizes (see README.md, benchmark 4).",
        "",
    ]
    b1 = r.get("cpu")
    if b1:
        lines += ["## 1. CPU per check", "",
                  "| kind | slaprobe µs/check (user + system) | stored/s | ok | lateness p99 | RSS "
                  "| machine busy (cores) | exporter µs/probe | achieved/s | probe_success | "
                  "machine busy (cores) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for kind in b1["slaprobe"]:
            s, e = b1["slaprobe"][kind], b1["exporter"].get(kind, {})
            n = max(1, s["checks"])
            lines.append(f"| {kind} | {_fmt(s['cpu_us_per_check'])} ({s['user_s'] / n * 1e6:.0f} + "
                         f"{s['system_s'] / n * 1e6:.0f}) | {s['stored_rate']:.0f} | "
                         f"{s['ok']}/{s['checks']} | {_fmt(s['lateness']['p99_ms'], 2)} ms | "
                         f"{s['rss_mb']:.0f} MB | {s['machine_busy_cores']:.2f} | "
                         f"{_fmt(e.get('target_cpu_us_per_request'))} | "
                         f"{e.get('achieved_rate', 0):.0f} | {e.get('expect_ok')}/"
                         f"{e.get('completed')} | {_fmt(e.get('machine_busy_cores'), 2)} |")
        lines.append("")
    b2 = r.get("throughput")
    if b2:
        lines += ["## 2. Throughput steps (slaprobe)", "",
                  "| kind | asked/s | stored/s | ok ratio | lateness p50 / p99 (/metrics) | "
                  "p99 / max from stored times | CPU % of a core | µs/check | machine busy "
                  "(cores) | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
        for kind, s in b2["slaprobe"].items():
            for st in s["steps"]:
                lines.append(f"| {kind} | {st['asked']} | {st['stored_rate']:.0f} | "
                             f"{st['ok_ratio']:.3f} | {_fmt(st['lateness_p50_ms'], 1)} / "
                             f"{_fmt(st['lateness_p99_ms'], 1)} ms | "
                             f"{_fmt(st['db_lateness'].get('p99_ms'), 1)} / "
                             f"{_fmt(st['db_lateness'].get('max_ms'), 1)} ms | "
                             f"{st['cpu_percent_of_core']:.0f} | {_fmt(st['cpu_us_per_check'])} |"
                             f" {st.get('machine_busy_cores', 0):.2f} |"
                             f" {'pass' if st['pass'] else 'FAIL'} |")
        lines += ["", "| exporter module | probes/s flat out | CPU % | µs/probe |",
                  "|---|---|---|---|"]
        for kind, e in b2["exporter"].items():
            lines.append(f"| {kind} | {_fmt(e['rate'])} | {e['cpu_percent']:.0f} | "
                         f"{_fmt(e['cpu_us_per_probe'])} |")
        lines.append("")
    b3 = r.get("precision")
    if b3:
        d = b3.get("db_lateness", {})
        lines += ["## 3. Scheduling precision", "",
                  f"{b3['probes']:,} TCP probes every 30 s; start-up to first /metrics "
                  f"{b3['startup_s']:.1f} s; steady window {b3['window_s']:.0f} s, "
                  f"{b3['checks']:,} checks ({b3['ok']:,} ok), {b3['rate']:.0f}/s, "
                  f"CPU {b3['cpu_percent_of_core']:.0f} % of a core (machine busy "
                  f"{b3.get('machine_busy_cores', 0):.2f} cores) "
                  f"({_fmt(b3['cpu_us_per_check'])} µs/check), RSS {b3['rss_mb']:.0f} MB.", "",
                  "/metrics scrapes (quantiles over the last 5,000 checks):", "",
                  "| at s | p50 ms | p90 ms | p99 ms | scrape took s |", "|---|---|---|---|---|"]
        for s in b3["metrics_scrapes"]:
            lines.append(f"| {s['at_s']:.0f} | {_fmt(s['p50_ms'], 2)} | {_fmt(s['p90_ms'], 2)} | "
                         f"{_fmt(s['p99_ms'], 2)} | {s['scrape_s']:.2f} |")
        if d and "n" in d:
            lines += ["", f"From stored start times over the whole window ({d['n']:,} checks): "
                      f"p50 {d['p50_ms']:.1f} ms, p90 {d['p90_ms']:.1f} ms, p99 "
                      f"{d['p99_ms']:.1f} ms, p99.9 {d['p999_ms']:.1f} ms, max "
                      f"{d['max_ms']:.1f} ms; {d['over_10ms']:,} checks over 10 ms late."]
        lines.append("")
    b4 = r.get("reports")
    if b4:
        mf, yf = b4["month_fill"], b4["year_fill"]
        lines += ["## 4. Reports at scale", "",
                  f"Synthetic history via `Store.insert_checks`: month DB {mf['probes']} probes × "
                  f"{mf['days']:.1f} days at 60 s = {mf['rows']:,} checks in {mf['seconds']:.1f} s "
                  f"({mf['rows_per_s']:,.0f}/s); year DB {yf['probes']} probes × "
                  f"{yf['days']:.0f} days = {yf['rows']:,} checks in {yf['seconds']:.1f} s "
                  f"({yf['rows_per_s']:,.0f}/s). 1,000 probes × a year at 60 s would be "
                  f"525.6 M checks ≈ {525.6e6 / yf['rows_per_s'] / 3600:.1f} h to insert at this "
                  "rate, hence the scaled-down sizes and the linear extrapolation.", "",
                  "Each history is then folded into latency digests at once by "
                  "`Store.roll_up` (the daemon does this every minute for the hours just "
                  f"ended): month DB {mf.get('rollup_seconds', 0):.1f} s, year DB "
                  f"{yf.get('rollup_seconds', 0):.1f} s. Reports read the digests for rolled-up "
                  "hours (and the SLA-hours digests of the office-hours probes) and raw checks "
                  "for the rest.", "",
                  f"Report runs are told to use {b4.get('report_workers', 1)} processes "
                  "(SLAPROBE_REPORT_WORKERS), as a report of 1,000 probes on this machine does "
                  "by itself (from 200 probes on, one per core), so the extrapolated slope is "
                  "the per-probe wall time with that many processes.", "",
                  f"CLI start-up (`slaprobe check`, small config): "
                  f"{b4['cli_startup']['median_s']:.2f} s.", "",
                  "| command | probes | wall s (median) | est. at 1,000 probes | fixed s | "
                  "ms per probe |", "|---|---|---|---|---|---|"]
        m = b4["month"]
        for what, key in ((f"report --period {m['period']}", "report"),
                          ("status --json (this month so far)", "status")):
            ex = m[f"{key}_at_1000"]
            lines.append(f"| {what} | {m['quarter']['probes']} / {m['full']['probes']} | "
                         f"{m['quarter'][key]['median_s']:.2f} / {m['full'][key]['median_s']:.2f}"
                         f" | {ex['estimate_s']:.2f} | {ex['fixed_s']:.2f} | "
                         f"{ex['per_probe_ms']:.1f} |")
        for key, label in (("year_raw", "report, a year, all raw kept"),
                           ("year_pruned", "report, a year, after prune to 90 d")):
            y = b4[key]
            ex = y["report_at_1000"]
            lines.append(f"| {label} | {y['quarter']['probes']} / {y['full']['probes']} | "
                         f"{y['quarter']['report']['median_s']:.2f} / "
                         f"{y['full']['report']['median_s']:.2f} | {ex['estimate_s']:.2f} | "
                         f"{ex['fixed_s']:.2f} | {ex['per_probe_ms']:.1f} |")
        st1 = b4.get("status")
        if st1:
            sf = st1["fill"]
            lines += ["", f"`status` at {st1['probes']:,} probes, measured: {sf['rows']:,} checks "
                      f"({st1['days']:g} days at 60 s). Without a daemon the command computes "
                      "this period's figures itself; with one, it reads the figures the daemon "
                      f"caches each minute (the daemon cached {st1['daemon_cached_probes']:,}).",
                      "", "| status | wall s (median) |", "|---|---|"]
            for key in ("computed_json", "computed_table", "cached_json", "cached_table"):
                if key in st1:
                    lines.append(f"| {key.replace('_', ', ')} | {st1[key]['median_s']:.2f} |")
        direct = [(k, b4[k]) for k in ("month_direct", "year_pruned_direct") if b4.get(k)]
        if direct:
            lines += ["", "Measured at 1,000 probes, not extrapolated: the month's and the pruned "
                      "year's histories copied in SQL to 1,000 probes (`replicate`: copy k of "
                      "probe i is probe i + k·n of the same client and SLA, its checks and "
                      "segments moved k × 97 min later, so a client's probes fail at different "
                      "times), each report run as the command chooses (a process per core).",
                      "", "| report, 1,000 probes | rows copied | json s (runs) | table s (runs) |",
                      "|---|---|---|---|"]
            for key, got in direct:
                lines.append(
                    f"| {'the month' if key == 'month_direct' else 'a year after keep_raw'} | "
                    f"{got['replicate']['rows_copied']:,} | "
                    f"{' / '.join(f'{t:.2f}' for t in got['json']['runs'])} | "
                    f"{' / '.join(f'{t:.2f}' for t in got['table']['runs'])} |")
        lines += ["", f"Prune of the year to 90 days: {b4['prune']['deleted']:,} checks in "
                  f"{b4['prune']['seconds']:.1f} s.", "", "## 5. Storage", "",
                  "Bytes are used bytes from SQLite's dbstat (page size minus free space), "
                  "after VACUUM.", "",
                  "| database | file bytes | checks | bytes/check (checks table) | segments | "
                  "bytes/segment | segments per probe-year | segments MB per probe-year | "
                  "latency digests MB per probe-year | all kept long-term, MB per probe-year |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for key, st in b4["storage"].items():
            lines.append(f"| {key} | {st['file_bytes']:,} | {st['rows'].get('checks', 0):,} | "
                         f"{_fmt(st.get('checks_bytes_per_check'), 1)} | "
                         f"{st['rows'].get('segments', 0):,} | "
                         f"{_fmt(st.get('segment_row_bytes'), 1)} | "
                         f"{_fmt(st.get('segments_per_probe_year'))} | "
                         f"{_fmt(st.get('segments_mb_per_probe_year'), 4)} | "
                         f"{_fmt(st.get('latency_digests_mb_per_probe_year'), 2)} | "
                         f"{_fmt(st.get('long_term_mb_per_probe_year'), 2)} |")
        a = r.get("prometheus_anchor")
        if a:
            lines += ["", f"Anchor: one blackbox_exporter HTTP probe yields "
                      f"{a['samples_per_check'] - 5} samples, plus 5 per scrape from Prometheus "
                      f"itself = {a['samples_per_check']} samples per check; at 1–2 bytes/sample "
                      f"that is {a['bytes_per_check'][0]:.0f}–{a['bytes_per_check'][1]:.0f} "
                      f"bytes per check, {a['mb_per_probe_year_60s'][0]:.0f}–"
                      f"{a['mb_per_probe_year_60s'][1]:.0f} MB per probe-year at 60 s."]
        lines.append("")
    prof = r.get("cpu", {}).get("profiles")
    if prof:
        lines += ["## Profile (py-spy, daemon during benchmark 1)", "",
                  "CPU per thread is measured from /proc (table above); py-spy says what each "
                  "thread does. Shares are of that thread's samples. Flame graph: "
                  "[profile-http.svg](profile-http.svg); collapsed stacks: profile-*.txt.", ""]
        for kind, p in prof.items():
            if not p:
                continue
            cpu = r["cpu"]["slaprobe"].get(kind, {}).get("thread_cpu_us_per_check", {})
            lines.append(f"**{kind}** — CPU per check by thread: "
                         + ", ".join(f"{k} {v:.0f} µs" for k, v in cpu.items()))
            lines.append("")
            for role, rp in p["roles"].items():
                lines.append(f"- {role} ({rp['samples']} samples): "
                             + "; ".join(f"{k} {v}%" for k, v in rp["categories"]))
                lines.append("  - top self: " + ", ".join(f"`{k}` {v}%"
                                                           for k, v in rp["self"][:8]))
            lines.append("")
    notes = HERE / "FINDINGS.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    (HERE / "RESULTS.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="slaprobe vs blackbox_exporter (loopback only)")
    p.add_argument("--quick", action="store_true", help="a ~2-minute version")
    p.add_argument("--only", default="cpu,throughput,precision,reports",
                   help="comma list of: cpu, throughput, precision, reports (storage is in "
                        "reports)")
    p.add_argument("--kinds", default="http,tcp,icmp")
    p.add_argument("--rate", type=float, default=400)
    p.add_argument("--month-probes", type=int)
    p.add_argument("--year-probes", type=int)
    p.add_argument("--keep-work", action="store_true", help="keep the temp directory")
    a = p.parse_args()
    a.kinds = [k for k in a.kinds.split(",") if k]
    q = a.quick
    # bench 1
    a.cpu_interval = 1.0
    a.cpu_warmup = 3 if q else 6
    a.cpu_window = 5 if q else 15
    a.profile_s = 5 if q else 20       # flame graph of the HTTP daemon
    a.profile_raw_s = 0 if q else 8    # collapsed stacks of each kind, summarised
    # bench 2
    a.step_warmup = 2 if q else 4
    a.step_window = 3 if q else 5
    a.steps = {"http": [400, 800, 1200, 1600, 2000, 2500, 3000, 4000],
               "tcp": [1000, 2000, 3000, 4000, 5000, 6000, 8000],
               "icmp": [1000, 2000, 4000, 8000, 12000, 16000]}
    a.tput_kinds = ["http"] if q else a.kinds
    if q:
        a.steps = {"http": [400, 1200], "tcp": [1000, 3000], "icmp": [2000, 8000]}
    a.wrk_s = 3 if q else 8
    a.wrk_conns = 32
    # bench 3
    a.precision_probes = 10_000
    a.precision_window = 10.0 if q else 60.0
    # bench 4 + 5
    a.month_probes = a.month_probes or (8 if q else 100)
    a.year_probes = a.year_probes or (2 if q else 20)
    a.report_reps = 1 if q else 2
    a.direct = not q  # copy the month and the pruned year to 1,000 probes and time them
    a.status_probes = 1000
    a.status_days = 0.25 if q else 2.0
    a.budget_s = 200 if q else 640  # bench 2 stops stepping beyond this (since start)
    return a


def main() -> int:
    a = parse_args()
    for tool in ("nginx", "wrk", "prometheus-blackbox-exporter"):
        if not shutil.which(tool):
            print(f"bench: {tool} not found (bench/run installs it)", file=sys.stderr)
            return 2
    try:
        import slaprobe  # noqa: F401
    except ImportError:
        print(f"bench: slaprobe is not importable by {sys.executable}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="slaprobe-bench-"))
    os.environ.setdefault("SLAPROBE_BENCH_WORK", str(work))
    (HERE / ".work").write_text(str(work) + "\n")  # bench/run's trap reads the pid file there
    procs = Procs(work)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(procs.stop_all)
    only = set(a.only.split(","))
    results: dict = {"date": dt.date.today().isoformat(), "quick": a.quick,
                     "machine": machine(), "slaprobe_source": source_digest(),
                     "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
                     "config": {k: v for k, v in vars(a).items()}}
    log(f"work dir {work}; {results['machine']['nproc']} CPUs, {results['machine']['cpu_model']}")
    ctx = {"args": a, "procs": procs, "work": work, "py": sys.executable,
           "pyspy": find_pyspy(sys.executable), "artifacts": []}
    rc = 0
    try:
        ctx["nginx_port"] = start_nginx(procs, work)
        ctx["exporter"] = Exporter(procs, work)
        log(f"nginx on {LOOPBACK}:{ctx['nginx_port']}")
        for name, fn in (("cpu", bench_cpu), ("throughput", bench_throughput),
                         ("precision", bench_precision), ("reports", bench_reports)):
            if name not in only:
                continue
            try:
                results[name] = fn(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - report it, go on with the next one
                import traceback
                traceback.print_exc()
                results.setdefault("errors", {})[name] = f"{type(e).__name__}: {e}"
                rc = 1
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping everything")
        rc = 130
    finally:
        procs.stop_all()
        if rc != 130:  # profiles replace the previous ones only when the run completed
            for f in ctx["artifacts"]:
                if f.exists():
                    shutil.copy(f, HERE / f.name)
        if not a.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        (HERE / ".work").unlink(missing_ok=True)
    results["elapsed_s"] = time.monotonic() - T_START
    results["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["prometheus_anchor"] = prometheus_anchor(results)
    table = build_table(results)
    print(render_table(table))
    if rc == 130:  # interrupted: keep the last complete results, save this run aside
        with open(HERE / "results.partial.json", "w") as f:
            json.dump(results, f, indent=2, default=str)
            f.write("\n")
        log(f"interrupted: wrote {HERE / 'results.partial.json'} only")
        return rc
    with open(HERE / "results.json", "w") as f:
        json.dump(results, f, indent=2, default=str)
        f.write("\n")
    write_results_md(results, table)
    log(f"wrote {HERE / 'results.json'} and {HERE / 'RESULTS.md'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
