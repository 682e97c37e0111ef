"""How long /metrics takes to build for 10,000 probes, and how long it stalls the loop.

Renders the daemon's snapshot as slaprobe does (snapshot + render_metrics on the loop
thread), then a prototype with each probe's label text cached, then measures the longest
event-loop stall while rendering on the loop vs in a worker thread."""
import sys, time, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench
tmp = Path(tempfile.mkdtemp(prefix="mrender-"))
from slaprobe.config import load_config
from slaprobe.daemon import Daemon, ProbeLive
from slaprobe.metrics_snapshot import snapshot
from slaprobe.metrics import render_metrics
p = tmp / "m10k.toml"; p.write_text(bench.probes_toml("tcp", 10000, "30s", 80, tmp / "m10k.db", 9999))
t = time.perf_counter(); cfg = load_config(p); print("load_config 10k probes", round(time.perf_counter() - t, 2), "s")
d = Daemon(cfg, tmp / "m10k.db")
for pid in cfg.probes: d.live[pid] = ProbeLive(up=True, latency_ms=0.2, checks_up=10, last_ts=time.time())
for i in range(5000): d.health.note_lateness(0.001)
for _ in range(3):
    t0 = time.perf_counter(); s = snapshot(d); t1 = time.perf_counter(); text = render_metrics(s); t2 = time.perf_counter(); b = text.encode()
    print(f"snapshot {1000*(t1-t0):.0f} ms, render {1000*(t2-t1):.0f} ms, {len(b)/1e6:.1f} MB, lines {text.count(chr(10))}")

from slaprobe.metrics import format_value, escape_label_value
cache = {}
def fast(s):
    out = []
    ps = s.probes
    lab = [cache.get(p.id) or cache.setdefault(p.id, escape_label_value(p.id)) for p in ps]
    out.append("# HELP slaprobe_probe_up x\n# TYPE slaprobe_probe_up gauge\n")
    out += [f'slaprobe_probe_up{{probe="{l}",client="{p.client or ""}",kind="{p.kind}"}} {p.up}\n' for l, p in zip(lab, ps) if p.up is not None]
    out += [f'slaprobe_probe_latency_seconds{{probe="{l}"}} {format_value(p.latency_seconds)}\n' for l, p in zip(lab, ps) if p.latency_seconds is not None]
    for r in ("up", "down"):
        out += [f'slaprobe_probe_checks_total{{probe="{l}",result="{r}"}} {p.checks_total.get(r, 0)}\n' for l, p in zip(lab, ps)]
    return "".join(out)
for _ in range(3):
    s = snapshot(d)
    t = time.perf_counter(); x = fast(s); print("cached-label render", round((time.perf_counter()-t)*1000), "ms", x.count("\n"), "lines")

import asyncio
async def lagtest(in_thread):
    loop = asyncio.get_running_loop()
    lags = []
    stop = False
    async def ticker():
        while not stop:
            t = loop.time(); await asyncio.sleep(0.001); lags.append(loop.time() - t - 0.001)
    tk = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    s = snapshot(d)
    if in_thread:
        text = await asyncio.to_thread(render_metrics, s)
    else:
        text = render_metrics(s)
    await asyncio.sleep(0.05)
    stop = True; await tk
    print("render", "in a thread" if in_thread else "on the loop", "max loop lag", round(max(lags) * 1000, 1), "ms")
asyncio.run(lagtest(False)); asyncio.run(lagtest(True))

import shutil
shutil.rmtree(tmp, ignore_errors=True)
