"""One slaprobe daemon at RATE checks/s of KIND against a private nginx; prints CPU per check
(user/system, per thread), lateness p99 and the stored rate. With OUT != "-" also records
py-spy collapsed stacks there (extra arguments go to py-spy).

The slaprobe imported is whatever PYTHONPATH selects, so a patched copy of src/ can be
compared with the original, alternating runs. Usage: ab_daemon.py tcp 400 - """
import sys, time, subprocess, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench
kind = sys.argv[1]; rate = int(sys.argv[2]); out = sys.argv[3]; extra = sys.argv[4:]
work = Path(tempfile.mkdtemp(prefix=f"ab-{kind}-"))
procs = bench.Procs(work)
try:
    port = bench.start_nginx(procs, work)
    sp = bench.Slaprobe(procs, sys.executable, work, "d")
    if sp.db.exists(): [p.unlink() for p in sp.dir.glob("slaprobe.db*")]
    sp.start(kind, rate, "1s", port)
    time.sleep(6)
    w = bench.steady_window(sp.pid, 12)
    late = sp.lateness()
    if out != "-":
        subprocess.run([bench.find_pyspy(sys.executable) or "py-spy", "record", "--pid", str(sp.pid), "--duration", "12", "--rate", "250", "--threads", "--format", "raw", "-o", out] + extra, capture_output=True)
    sp.stop()
    rows, ok = sp.count(w["wall0"], w["wall1"])
    print(kind, rate, "usr/sys", round(w["user_s"]/rows*1e6), round(w["system_s"]/rows*1e6), "busy", round(w["machine_busy_cores"],2), "us/check", round(w["cpu_s"]/rows*1e6), {k: round(v/rows*1e6) for k,v in w["thread_cpu_s"].items()}, "p99", late["p99_ms"], "rows/s", rows/w["seconds"], "ok", ok/rows)
finally:
    procs.stop_all()
    import shutil
    shutil.rmtree(work, ignore_errors=True)
