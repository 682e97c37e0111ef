"""Benchmark 3 of bench/bench.py on its own: N TCP probes every 30 s, /metrics scraped every
15 s, lateness p50/p99/max from stored start times over a steady window, RSS, CPU.

The slaprobe imported is whatever PYTHONPATH selects (a copy of src/, alternating with another). Usage:
precision.py [N] [WINDOW_S] [prefill-hour]   (defaults 10000 61)

With `prefill-hour`, the database starts with the hour just ended of every probe (a check
every 30 s) not yet folded into latency digests: the daemon folds it at start, in the
window, as it does at the top of every hour."""
import sys, time, tempfile, shutil
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
window = float(sys.argv[2]) if len(sys.argv) > 2 else 61.0
prefill = len(sys.argv) > 3 and sys.argv[3] == "prefill-hour"
work = Path(tempfile.mkdtemp(prefix="prec-"))
procs = bench.Procs(work)
try:
    port = bench.start_nginx(procs, work)
    sp = bench.Slaprobe(procs, sys.executable, work, "d")
    if prefill:
        import random
        from slaprobe.checks import Check
        from slaprobe.store import Store
        rnd = random.Random(1)
        hour = time.time() - time.time() % 3600
        with Store(sp.db) as s:
            for k in range(120):
                s.insert_checks([Check(f"ptcp-{i:05d}", hour - 3600 + k * 30 + (i % 3000) / 100,
                                       True, round(rnd.uniform(0.5, 40), 3), None, 30.0, "bench")
                                 for i in range(n)])
    t = time.monotonic()
    sp.start("tcp", n, "30s", port, ready_timeout=300)
    startup = time.monotonic() - t
    rss0 = bench.rss_mb(sp.pid)
    time.sleep(2 if prefill else 32)  # prefill: the fold runs in the first seconds
    c0, w0, m0 = bench.cpu_seconds(sp.pid), time.time(), time.monotonic()
    scrapes = []
    end = m0 + window
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(15.0, left))
        t = time.monotonic(); lat = sp.lateness(); scrapes.append((round(t - m0), lat["p99_ms"], round(time.monotonic() - t, 2)))
    c1, w1, m1 = bench.cpu_seconds(sp.pid), time.time(), time.monotonic()
    rss = bench.rss_mb(sp.pid)
    offset = time.time() - time.monotonic()
    sp.stop()
    rows, ok = sp.count(w0, w1)
    d = bench.db_lateness(sp.db, w0, w1, 30.0, offset)
    print(f"n={n} startup {startup:.1f}s rss_start {rss0:.0f} MB rss {rss:.0f} MB rows {rows} ok {ok} "
          f"cpu {100*(c1-c0)/(m1-m0):.0f}% us/check {(c1-c0)/max(rows,1)*1e6:.0f} | db p50 {d.get('p50_ms'):.1f} "
          f"p99 {d.get('p99_ms'):.1f} p99.9 {d.get('p999_ms'):.1f} max {d.get('max_ms'):.1f} over10 {d.get('over_10ms')} | scrapes (at, p99 ms, took s) {scrapes}")
finally:
    procs.stop_all()
    shutil.rmtree(work, ignore_errors=True)
