"""A year's report at a size where the extrapolation to 1,000 probes is steady.

    python bench/experiments/year_scale.py [--work /tmp/year_scale] [--probes 100] [--reps 5]

`bench/run` times the year at 5 and 20 probes (to keep the whole run near 17 minutes);
their difference is tens of milliseconds, so its slope moves with any noise. This
fills (once; reused from --work) a year of bench.py's synthetic history for --probes
probes at 60 s (2025-11-01 to 2026-11-01, about 8 minutes per 100 probes), folds it as
the daemon would (with the report configuration's SLA hours), then times
`slaprobe report --from 2025-11-01 --to 2026-11-01 --format json` at a quarter and at all
of the probes, with all raw checks kept and after pruning to keep_raw = 90 days (as on
2026-11-25). Report runs use as many processes as a 1,000-probe report would.

With --direct, each of the two is also copied to 1,000 probes (`bench.replicate`: 90 s for
the pruned year, 9 minutes and 23 GB for all raw kept; kept in --work for reuse) and the
report is timed there as the command runs it, not extrapolated.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

START = datetime(2025, 11, 1, tzinfo=UTC).timestamp()
END = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()


def main() -> int:
    from bench import (  # type: ignore[import-not-found]
        extrapolate,
        replicate,
        report_config,
        synth_checks,
    )
    from slaprobe.config import load_config
    from slaprobe.hours import probe_hours_specs
    from slaprobe.report_shards import WORKERS_ENV, worker_count
    from slaprobe.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/year_scale"))
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--direct", action="store_true", help="also time 1,000 probes, copied")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    raw, kept, pruned = (a.work / f"{n}.db" for n in ("raw", "year", "pruned"))
    if not raw.exists():
        t0 = time.perf_counter()
        tmp = a.work / "raw.tmp"
        with Store(tmp) as s:
            for batch in synth_checks(a.probes, START, END, 60.0, 2):
                s.insert_checks(batch, update_state=False)
        tmp.rename(raw)
        print(f"filled {raw}: {time.perf_counter() - t0:.0f} s", flush=True)
    q = max(1, a.probes // 4)
    cfgs = {}
    for db in (kept, pruned):
        for n in (q, a.probes):
            cfgs[(db, n)] = a.work / f"{db.stem}-{n}.toml"
            report_config(cfgs[(db, n)], db, n)
    if not pruned.exists():
        shutil.copy(raw, kept)
        t0 = time.perf_counter()
        with Store(kept) as s:
            s.set_sla_hours(probe_hours_specs(load_config(cfgs[(kept, a.probes)])))
            s.roll_up(NOW)
        print(f"rolled up: {time.perf_counter() - t0:.0f} s", flush=True)
        shutil.copy(kept, pruned)
        with Store(pruned) as s:
            s.prune(NOW - 90 * 86400)
    subprocess.run([sys.executable, "-c", "import compileall, slaprobe, os; "
                    "compileall.compile_dir(os.path.dirname(slaprobe.__file__), quiet=1)"],
                   check=False)
    workers = worker_count(1000, {})
    env = {**__import__("os").environ, WORKERS_ENV: str(workers)}
    print(f"{workers} report processes, as for 1,000 probes", flush=True)
    for db, label in ((kept, "all raw kept"), (pruned, "after keep_raw 90 d")):
        med = {}
        for n in (q, a.probes):
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "slaprobe", "report", "--config",
                                    str(cfgs[(db, n)]), "--from", "2025-11-01", "--to",
                                    "2026-11-01", "--format", "json"], capture_output=True,
                                   env=env, check=False, timeout=900)
                times.append(time.perf_counter() - t0)
                if r.returncode not in (0, 1):
                    raise SystemExit(r.stderr.decode()[-600:])
            med[n] = statistics.median(times)
            print(f"  {label}, {n} probes: median {med[n]:.2f} s of "
                  f"{[round(t, 2) for t in times]}", flush=True)
        ex = extrapolate(q, med[q], a.probes, med[a.probes], 1000)
        print(f"{label}: at 1,000 probes ~{ex['estimate_s']:.2f} s (fixed "
              f"{ex['fixed_s']:.2f} s + {ex['per_probe_ms']:.2f} ms per probe)", flush=True)
        if a.direct:
            big, cfg = a.work / f"{db.stem}-1000.db", a.work / f"{db.stem}-1000.toml"
            if not big.exists():
                got = replicate(db, big, a.probes, 1000)
                print(f"  copied to 1,000 probes: {got['rows_copied']:,} rows in "
                      f"{got['seconds']:.0f} s", flush=True)
            report_config(cfg, big, 1000)
            times = []
            for _ in range(a.reps):  # as the command runs it: it picks its processes
                t0 = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "slaprobe", "report", "--config",
                                    str(cfg), "--from", "2025-11-01", "--to", "2026-11-01",
                                    "--format", "json"], capture_output=True, check=False,
                                   timeout=900)
                times.append(time.perf_counter() - t0)
                if r.returncode not in (0, 1):
                    raise SystemExit(r.stderr.decode()[-600:])
            print(f"{label}: at 1,000 probes, measured: median {statistics.median(times):.2f} s"
                  f" of {[round(t, 2) for t in times]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
