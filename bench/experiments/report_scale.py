"""Report cost at scale with latency rollups: ms per probe-month / probe-year, bytes per probe-year.

    python bench/experiments/report_scale.py [--work DIR] [--month-probes 100]
        [--year-probes 4] [--reps 3] [--src SRC]

1. Fills (once; reused from --work) month.db: N probes x 60 s over October 2026, and
   year.db: M probes x 60 s from 2025-11-01 to 2026-11-01, with bench.py's synthetic
   checks (jittered latency around a per-probe base, about two 3-30 min outages a
   month) through `Store.insert_checks`, and bench.py's report configuration (UTC
   agent, 1 in 5 clients on Mon-Fri 08:00-18:00 Europe/Berlin hours, a weekly 30 min
   maintenance window).
2. Runs the rollup pass (`Store.roll_up`, when the code under test has it) and times it.
3. Times `build_report` in-process for the month and the year, and through the CLI
   (`slaprobe report --period 2026-10 --format json`, `--from/--to` for the year).
4. Copies year.db, prunes it to keep_raw = 90 d (as the daemon would on 2026-11-25),
   VACUUMs it and prints the bytes per probe-year of what is kept for pruned time.

--src runs another copy of the package (e.g. the code before the change) by PYTHONPATH.
Bounded: about 2-4 minutes on 2 cores for the defaults, most of it the first fill.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench.py: synth_checks, report_config

MONTH = (datetime(2026, 10, 1, tzinfo=UTC).timestamp(),
         datetime(2026, 11, 1, tzinfo=UTC).timestamp())
YEAR = (datetime(2025, 11, 1, tzinfo=UTC).timestamp(),
        datetime(2026, 11, 1, tzinfo=UTC).timestamp())
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()
KEEP_RAW = 90 * 86400.0


def fill(db: Path, n: int, start: float, end: float, seed: int) -> None:
    from bench import synth_checks  # type: ignore[import-not-found]
    from slaprobe.store import Store

    t0 = time.perf_counter()
    rows = 0
    tmp = db.with_suffix(".tmp")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    with Store(tmp) as store:
        for batch in synth_checks(n, start, end, 60.0, seed):
            store.insert_checks(batch, update_state=False)
            rows += len(batch)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tmp.rename(db)
    print(f"  filled {db.name}: {rows:,} checks in {time.perf_counter() - t0:.1f} s", flush=True)


def config_for(path: Path, db: Path, n: int, zone: str = "UTC") -> Path:
    from bench import report_config  # type: ignore[import-not-found]

    report_config(path, db, n)
    if zone != "UTC":
        path.write_text(path.read_text().replace('timezone = "UTC"', f'timezone = "{zone}"', 1))
    return path


def roll_up(db: Path) -> float | None:
    from slaprobe.store import Store

    with Store(db) as store:
        if not hasattr(store, "roll_up"):
            return None
        t0 = time.perf_counter()
        store.roll_up(NOW)
        return time.perf_counter() - t0


def in_process(cfg: Path, db: Path, start: float, end: float, reps: int,
               latency: bool = True) -> float:
    from slaprobe.availability import build_report, report_to_dict
    from slaprobe.config import load_config
    from slaprobe.store import Store

    config = load_config(cfg)
    times = []
    for _ in range(reps):
        with Store(db, readonly=True) as store:
            t0 = time.perf_counter()
            report_to_dict(build_report(config, store, start, end, NOW, latency=latency))
            times.append(time.perf_counter() - t0)
    return min(times)


def cli(cfg: Path, db: Path, args: list[str], reps: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "slaprobe", "report", "--config", str(cfg),
                            "--db", str(db), *args, "--format", "json"],
                           capture_output=True, env=env, timeout=900, check=False)
        times.append(time.perf_counter() - t0)
        if r.returncode not in (0, 1):
            raise RuntimeError(r.stderr.decode()[-600:])
    return statistics.median(times)


def storage(db: Path, n: int) -> dict:
    c = sqlite3.connect(str(db))
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("PRAGMA journal_mode = DELETE")
        c.execute("VACUUM")
        stat = {name: pg - unused for name, pg, unused in c.execute(
            "SELECT name, sum(pgsize), sum(unused) FROM dbstat GROUP BY name")}
        ok_raw = c.execute("SELECT count(*) FROM checks WHERE ok = 1").fetchone()[0]
        failed = c.execute("SELECT count(*) FROM checks WHERE ok = 0").fetchone()[0]
        checks_used = stat.get("checks", 0)
        per_check = checks_used / max(1, ok_raw + failed)
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        levels = {}
        if "latency_rollups" in tables:
            levels = {lvl: (cnt, size) for lvl, cnt, size in c.execute(
                "SELECT level, count(*), sum(length(digest)) FROM latency_rollups GROUP BY level")}
    finally:
        c.close()
    return {"tables": stat, "ok_raw": ok_raw, "failed": failed,
            "failed_bytes": per_check * failed, "levels": levels,
            "file_bytes": db.stat().st_size, "probes": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/report_scale"))
    ap.add_argument("--month-probes", type=int, default=100)
    ap.add_argument("--year-probes", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--src", type=Path, help="PYTHONPATH of the package to measure")
    ap.add_argument("--zone", default="UTC", help="the agent's time zone for the reports")
    a = ap.parse_args()
    env = dict(os.environ)
    if a.src:
        sys.path.insert(0, str(a.src))
        env["PYTHONPATH"] = str(a.src)
    import slaprobe

    print(f"slaprobe from {Path(slaprobe.__file__).parent}", flush=True)
    a.work.mkdir(parents=True, exist_ok=True)
    mdb0, ydb0 = a.work / f"month-{a.month_probes}.db", a.work / f"year-{a.year_probes}.db"
    if not mdb0.exists():
        fill(mdb0, a.month_probes, *MONTH, seed=1)
    if not ydb0.exists():
        fill(ydb0, a.year_probes, *YEAR, seed=2)
    run = a.work / ("run-" + ("src" if a.src else "tree"))
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    mdb, ydb = run / "month.db", run / "year.db"
    shutil.copy(mdb0, mdb)
    shutil.copy(ydb0, ydb)
    mcfg = config_for(run / "month.toml", mdb, a.month_probes, a.zone)
    ycfg = config_for(run / "year.toml", ydb, a.year_probes, a.zone)
    out: dict = {"month_probes": a.month_probes, "year_probes": a.year_probes, "zone": a.zone}

    for label, db in (("month", mdb), ("year", ydb)):
        secs = roll_up(db)
        out[f"rollup_{label}_s"] = secs
        if secs is not None:
            print(f"  roll_up {label}: {secs:.1f} s", flush=True)

    m = in_process(mcfg, mdb, *MONTH, a.reps)
    m_nolat = in_process(mcfg, mdb, *MONTH, a.reps, latency=False)
    y = in_process(ycfg, ydb, *YEAR, a.reps)
    out["month_ms_per_probe"] = m * 1000 / a.month_probes
    out["month_ms_per_probe_no_latency"] = m_nolat * 1000 / a.month_probes
    out["year_ms_per_probe"] = y * 1000 / a.year_probes
    print(f"in-process: month {m * 1000:.0f} ms = {out['month_ms_per_probe']:.3f} ms/probe-month"
          f" (latency=False {out['month_ms_per_probe_no_latency']:.3f}); year {y * 1000:.0f} ms"
          f" = {out['year_ms_per_probe']:.2f} ms/probe-year", flush=True)

    c_m = cli(mcfg, mdb, ["--period", "2026-10"], a.reps, env)
    c_y = cli(ycfg, ydb, ["--from", "2025-11-01", "--to", "2026-11-01"], a.reps, env)
    out["cli_month_s"], out["cli_year_s"] = c_m, c_y
    startup = c_m - m
    out["at_1000"] = {
        "month_in_process_s": out["month_ms_per_probe"],  # ms/probe x 1000 probes = s
        "year_in_process_s": out["year_ms_per_probe"],
        "month_cli_s": startup + out["month_ms_per_probe"],
        "year_cli_s": (c_y - y) + out["year_ms_per_probe"],
    }
    print(f"CLI: month {c_m:.2f} s ({a.month_probes} probes), year {c_y:.2f} s "
          f"({a.year_probes} probes); at 1,000 probes: month ~{out['at_1000']['month_cli_s']:.2f} s,"
          f" year ~{out['at_1000']['year_cli_s']:.2f} s", flush=True)

    # -- retention ---------------------------------------------------------------
    pdb = run / "year-pruned.db"
    shutil.copy(ydb, pdb)
    from slaprobe.store import Store

    t0 = time.perf_counter()
    with Store(pdb) as store:
        deleted = store.prune(NOW - KEEP_RAW)
    out["prune_s"] = time.perf_counter() - t0
    st = storage(pdb, a.year_probes)
    horizon = NOW - KEEP_RAW
    pruned_years = (horizon - YEAR[0]) / (365 * 86400)
    years = (YEAR[1] - YEAR[0]) / (365 * 86400)
    t = st["tables"]
    seg = t.get("segments", 0) / a.year_probes / years
    # what pruned time keeps: day and month digests (counts only) or the old histograms
    if st["levels"]:
        kept = 0
        with sqlite3.connect(str(pdb)) as c:
            for lvl, size in c.execute(
                    "SELECT level, sum(length(digest) + 16) FROM latency_rollups WHERE start_ms < ?"
                    " GROUP BY level", (int(horizon * 1000),)):
                kept += size
        lat = kept / a.year_probes / pruned_years
    else:
        lat = t.get("latency_hist", 0) / a.year_probes / pruned_years
    failed = st["failed_bytes"] / a.year_probes / years
    out["storage"] = {"deleted": deleted, "tables": t, "levels": st["levels"],
                      "file_bytes": st["file_bytes"],
                      "segments_mb_per_probe_year": seg / 1e6,
                      "latency_mb_per_probe_year": lat / 1e6,
                      "failed_mb_per_probe_year": failed / 1e6,
                      "long_term_mb_per_probe_year": (seg + lat + failed) / 1e6}
    print(f"after prune to keep_raw 90 d ({deleted:,} deleted in {out['prune_s']:.1f} s): "
          f"long-term {out['storage']['long_term_mb_per_probe_year']:.3f} MB per probe-year "
          f"(latency {lat / 1e6:.3f}, segments {seg / 1e6:.4f}, failed checks "
          f"{failed / 1e6:.4f})", flush=True)
    yp = in_process(ycfg, pdb, *YEAR, a.reps)
    out["year_pruned_ms_per_probe"] = yp * 1000 / a.year_probes
    print(f"in-process year after prune: {out['year_pruned_ms_per_probe']:.2f} ms/probe-year",
          flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
