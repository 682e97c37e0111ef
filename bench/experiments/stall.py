"""Lateness per second (from stored start times) of one daemon over time, to find stalls.

Usage: stall.py KIND N INTERVAL SECONDS, e.g. stall.py tcp 10000 30s 100. No /metrics
scrapes after start-up. Prints every second whose worst check was over 10 ms late."""
import sys, time, math, sqlite3, collections, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench
kind, n, interval, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
iv = float(interval.rstrip("s"))
work = Path(tempfile.mkdtemp(prefix=f"stall-{kind}-"))
procs = bench.Procs(work)
try:
    port = bench.start_nginx(procs, work)
    sp = bench.Slaprobe(procs, sys.executable, work, "d")
    for f in sp.dir.glob("slaprobe.db*"): f.unlink()
    t0 = time.time()
    sp.start(kind, n, interval, port, ready_timeout=300)
    t_ready = time.time()
    time.sleep(secs)
    offset = time.time() - time.monotonic()
    sp.stop()
    from slaprobe.schedule import phase
    with sqlite3.connect(sp.db) as c:
        names = dict(c.execute("SELECT id, name FROM probes"))
        rows = c.execute("SELECT probe_id, ts_ms FROM checks").fetchall()
    ph = {k: phase(v, iv) for k, v in names.items()}
    per = collections.defaultdict(list)
    for pid, ts in rows:
        x = (ts / 1000 - offset - ph[pid]) % iv
        if x > iv - 0.002: x -= iv  # a hair early (ms rounding of ts)
        per[int(ts / 1000 - t0)].append(max(0, x) * 1000)
    print(f"ready after {t_ready - t0:.1f}s")
    for s in sorted(per):
        v = sorted(per[s])
        if v[-1] > 10 or s % 10 == 0:
            print(f"t={s:3d}s n={len(v):5d} p50={v[len(v)//2]:6.1f} p99={v[int(len(v)*.99)]:6.1f} max={v[-1]:6.1f} ms")
finally:
    procs.stop_all()
    import shutil
    shutil.rmtree(work, ignore_errors=True)
