"""A report computes eligible time once per (SLA, covering windows) and decomposes it once:
the figures equal those computed probe by probe, over random configurations."""

from __future__ import annotations

import random

import pytest

from slaprobe.availability import Report, build_report, read_spans, report_to_dict
from slaprobe.checks import Check
from slaprobe.config import parse_config
from slaprobe.exclusions import window_uses
from slaprobe.figures import client_figures, figures_of_probe, hours_in, measure_probe
from slaprobe.intervals import union
from slaprobe.latency_digest import LatencyDigest
from slaprobe.maintenance import covers, window_intervals

START = 1793491200.0  # 2026-11-01T00:00Z
END = START + 10 * 86400
HOURS = ["24x7", "Mon-Fri 08:00-18:00", "Mon-Sun 01:30-02:45; Tue 12:00-13:00"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
CATS = ["maintenance", "customer", "third-party"]


class Checks:
    """A store read through raw checks only (no segments)."""

    def __init__(self, checks: list[Check]):
        self.by_probe: dict[str, list[Check]] = {}
        for c in sorted(checks, key=lambda c: (c.ts, c.agent)):
            self.by_probe.setdefault(c.probe, []).append(c)

    def checks(self, probe, start=None, end=None):
        return [c for c in self.by_probe.get(probe, [])
                if (start is None or c.ts >= start) and (end is None or c.ts < end)]

    def checks_before(self, probe, ts, n):
        return [c for c in self.by_probe.get(probe, []) if c.ts < ts][-n:] if n > 0 else []


def _config(rnd: random.Random, tmp_path):
    out = ['[agent]\nname = "a1"\ntimezone = "UTC"\ninterval = "60s"\n']
    slas = []
    for i in range(rnd.randint(1, 3)):
        slas.append(f"s{i}")
        out.append(f'[sla.s{i}]\nobjective = {rnd.choice([99.0, 99.9, 99.5])}\n'
                   f'hours = "{rnd.choice(HOURS)}"\ntimezone = "{rnd.choice(ZONES)}"\n'
                   'credits = [{ below = 99.9, percent = 10 }]\n')
    clients = [f"c{i}" for i in range(rnd.randint(1, 4))]
    for c in clients:
        sla = rnd.choice(slas + [None])
        out.append(f'[clients.{c}]\nname = "{c.upper()}"\n' + (f'sla = "{sla}"\n' if sla else ""))
    probes = [f"p{i}" for i in range(rnd.randint(2, 9))]
    for i, p in enumerate(probes):
        client = rnd.choice(clients + [None])
        out.append(f'[[probes]]\nid = "{p}"\n' + (f'client = "{client}"\n' if client else "")
                   + f'kind = "tcp"\nhost = "127.0.0.1"\nport = {i + 1}\n'
                   f'confirm = {rnd.choice([1, 2])}\n')
    for i in range(rnd.randint(0, 4)):
        scope = rnd.choice(["", f'probes = {rnd.sample(probes, rnd.randint(1, 2))}\n'.replace(
            "'", '"'), f'clients = ["{rnd.choice(clients)}"]\n'])
        if rnd.random() < 0.5:
            s = START + rnd.uniform(0, 9) * 86400
            when = (f'start = "{_iso(s)}"\nend = "{_iso(s + rnd.uniform(600, 20000))}"\n')
        else:
            when = (f'rrule = "FREQ={rnd.choice(["DAILY", "WEEKLY"])};BYHOUR={rnd.randint(0, 23)}"'
                    f'\nduration = "{rnd.choice(["30m", "2h"])}"\n'
                    f'timezone = "{rnd.choice(ZONES)}"\n')
        out.append(f'[[maintenance]]\nid = "m{i}"\ncategory = "{rnd.choice(CATS)}"\n'
                   + scope + when)
    return parse_config("\n".join(out), tmp_path / "probes.toml"), probes


def _iso(ts: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(round(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _checks(rnd: random.Random, probes: list[str]) -> list[Check]:
    out = []
    for p in probes:
        t, failing = START - 3600 + rnd.random() * 60, False
        while t < END + 3600:
            if rnd.random() < 0.01:
                failing = not failing
            out.append(Check(p, round(t, 3), not failing, None if failing else
                             rnd.uniform(1, 50), "timeout: x" if failing else None, 300.0, "a1"))
            t += 300.0
    return out


def _probe_by_probe(config, store, start, end, now) -> Report:
    """The report as computed before sharing: everything probe by probe."""
    probes = list(config.probes.values())
    windows = [(w, window_intervals(w, start, end)) for w in config.maintenance]
    measures, figs = {}, []
    for p in probes:
        sla = config.sla_for_probe(p)
        maint = union(*[iv for w, iv in windows if covers(w, p)], ())
        cats: dict = {}
        for w, iv in windows:
            if iv and covers(w, p):
                cats[w.category] = union(cats.get(w.category, ()), iv)
        spans = read_spans(store, p, start, end, sla.min_downtime if sla else 0.0)
        m = measures[p.id] = measure_probe(p, sla, spans, now, maint, config.agent.quorum,
                                           categories=cats)
        owner = config.clients.get(p.client) if p.client else None
        figs.append(figures_of_probe(m, sla, start, end, now,
                                     client_name=owner.name if owner else None))
    cfigs = tuple(client_figures(c, config.slas.get(c.sla) if c.sla else None,
                                 [measures[p.id] for p in probes if p.client == c.id],
                                 start, end, now) for c in config.clients.values())
    uses = window_uses(config.maintenance, [(p, measures[p.id].timeline.down,
                                             hours_in(config.sla_for_probe(p), start, end))
                                            for p in probes], start, end, {}, None)
    return Report(start, end, end >= now, now, config.agent.timezone, tuple(figs), cfigs, uses)


@pytest.mark.parametrize("seed", range(12))
def test_shared_eligible_time_gives_the_figures_of_probe_by_probe(tmp_path, seed):
    rnd = random.Random(seed)
    config, probes = _config(rnd, tmp_path)
    store = Checks(_checks(rnd, probes))
    now = END + 7200
    shared = report_to_dict(build_report(config, store, START, END, now))
    alone = report_to_dict(_probe_by_probe(config, store, START, END, now))
    assert shared == alone


@pytest.mark.parametrize("seed", range(20))
def test_decoding_many_digests_at_once_equals_merging_their_decodes(seed):
    rnd = random.Random(seed)
    blobs = []
    for _ in range(rnd.randint(0, 40)):
        vals = [rnd.choice([rnd.uniform(0.5, 80), 12.0, 12.5]) for _ in range(rnd.randint(0, 60))]
        blobs.append(LatencyDigest.of(vals).encode(extremes=rnd.random() > 0.1))
    one = LatencyDigest.decode_merged(blobs)
    each = LatencyDigest.merged([LatencyDigest.decode(b) for b in blobs])
    assert one.counts == each.counts and one.base == each.base and one.coarse == each.coarse
    for p in (1, 25, 50, 90, 95, 99, 99.9, 100):
        assert one.quantile(p) == each.quantile(p)
    for t in (1.0, 12.0, 12.25, 40.0, 100.0):
        assert one.count_at_most(t) == each.count_at_most(t)
    for k, _ in each.buckets():
        assert one.extremes(k) == each.extremes(k)
    assert one == each
