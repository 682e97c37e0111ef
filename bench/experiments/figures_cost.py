"""Cost of the daemon's per-minute figures refresh (Daemon._period_figures) for N probes with
a few stored checks each, and of build_report on slices of the probes.
Usage: figures_cost.py [N]"""
import sys, time, tempfile, shutil
from dataclasses import replace
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
tmp = Path(tempfile.mkdtemp(prefix="figcost-"))
try:
    from slaprobe.config import load_config
    from slaprobe.daemon import Daemon
    from slaprobe.checks import Check
    from slaprobe.store import Store
    from slaprobe.availability import build_report
    from slaprobe.periods import resolve_period
    p = tmp / "c.toml"; p.write_text(bench.probes_toml("tcp", n, "30s", 80, tmp / "f.db", None))
    cfg = load_config(p)
    now = time.time()
    with Store(tmp / "f.db") as s:
        s.insert_checks([Check(pid, now - 90 + 30 * k, True, 0.3, None, 30.0, "bench")
                         for k in range(3) for pid in cfg.probes], live=True)
    d = Daemon(cfg, tmp / "f.db")
    for _ in range(2):
        t = time.perf_counter(); f = d._period_figures(); print(f"_period_figures {n} probes: {time.perf_counter()-t:.2f} s")
    start, end, _ = resolve_period(None, None, None, cfg.agent.timezone, now)
    ids = list(cfg.probes)
    with Store(tmp / "f.db") as s:
        for k in (1, 10, 100):
            sub = replace(cfg, probes={i: cfg.probes[i] for i in ids[:k]})
            t = time.perf_counter()
            for _ in range(5): build_report(sub, s, start, end, now, latency=False, error_kinds=False)
            print(f"build_report slice of {k}: {(time.perf_counter()-t)/5*1000:.2f} ms")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
