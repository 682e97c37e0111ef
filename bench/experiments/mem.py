"""What the daemon's memory per probe is: N TCP probes (interval 10 s) run in process for
12 s under tracemalloc, then the top allocation sites and object counts by type.

The slaprobe imported is whatever PYTHONPATH selects. Usage: mem.py [N] [--no-trace]"""
import sys, time, tempfile, shutil, asyncio, gc, collections, tracemalloc
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
trace = "--no-trace" not in sys.argv
work = Path(tempfile.mkdtemp(prefix="mem-"))
procs = bench.Procs(work)
try:
    port = bench.start_nginx(procs, work)
    cfgp = work / "p.toml"
    cfgp.write_text(bench.probes_toml("tcp", n, "10s", port, work / "m.db", None))
    gc.collect()
    print("rss before import/config", round(bench.rss_mb(__import__("os").getpid())), "MB")
    from slaprobe.config import load_config
    from slaprobe.daemon import Daemon
    import slaprobe.metrics, slaprobe.metrics_snapshot, slaprobe.availability  # noqa
    if trace:
        tracemalloc.start(4)
    import os
    print("rss after imports", round(bench.rss_mb(os.getpid())), "MB")
    cfg = load_config(cfgp)
    print("rss after load_config", round(bench.rss_mb(os.getpid())), "MB")
    d = Daemon(cfg, work / "m.db")
    async def main():
        async def stop():
            await asyncio.sleep(0.5)
            print("rss 0.5 s after start", round(bench.rss_mb(os.getpid())), "MB")
            await asyncio.sleep(11.5)
            if trace:
                snap = tracemalloc.take_snapshot()
                snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
                print("top sites (lineno):")
                for st in snap.statistics("lineno")[:25]:
                    print(f"  {st.size/1e6:7.2f} MB {st.count:8d}  {st.traceback[0]}")
                print("total traced", round(sum(s.size for s in snap.statistics("filename")) / 1e6, 1), "MB")
            counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
            print("gc objects by type:", counts.most_common(15))
            print("rss", round(bench.rss_mb(__import__("os").getpid())), "MB; checks", d.health.checks_total)
            if "--scrape" in sys.argv:
                from slaprobe.metrics_snapshot import snapshot
                from slaprobe.metrics import render_metrics
                for i in range(4):
                    text = await asyncio.to_thread(render_metrics, snapshot(d)); del text
                    await asyncio.sleep(1)
                print("rss after 4 renders", round(bench.rss_mb(os.getpid())), "MB")
                d.period_figures = await asyncio.to_thread(d._period_figures)
                print("rss after figures", round(bench.rss_mb(os.getpid())), "MB")
            d._stop.set()
        t = asyncio.create_task(stop())
        await d.run()
        await t
    asyncio.run(main())
finally:
    procs.stop_all()
    shutil.rmtree(work, ignore_errors=True)
