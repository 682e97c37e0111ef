"""Probe ownership in a cluster (rendezvous hashing), and [central]/[cluster] in probes.toml."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from slaprobe.cluster import assignment, owner, probes_run_here, runs_in, weight
from slaprobe.config import Central, Cluster, parse_config
from slaprobe.errors import ConfigError

IDS = [f"client{i % 97}-svc{i}" for i in range(10_000)]


def test_weight_is_stable_across_processes():
    # Python's hash() is salted per process; the weight must not be.
    code = "from slaprobe.cluster import weight; print(weight('acme-web', 'fra1'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"})
    assert int(out.stdout) == weight("acme-web", "fra1")
    # pinned: a change here would move probes between members on upgrade
    assert weight("acme-web", "fra1") == 0x20C7725A6407DFF9


def test_every_probe_has_exactly_one_owner_whatever_the_member_order():
    members = ["a", "b", "c"]
    for pid in IDS[:500]:
        assert owner(pid, members) == owner(pid, list(reversed(members)))
        assert owner(pid, members) in members


def test_ten_thousand_probes_over_three_members_balance_within_five_percent():
    counts = Counter(assignment(IDS, ["fra1", "fra2", "fra3"]).values())
    assert sum(counts.values()) == len(IDS)
    for member, n in counts.items():
        assert abs(n - len(IDS) / 3) <= 0.05 * len(IDS) / 3, (member, counts)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_adding_a_member_moves_about_one_in_n_plus_one_and_only_to_it(n):
    before_members = [f"m{i}" for i in range(n)]
    after_members = [*before_members, "new"]
    before = assignment(IDS, before_members)
    after = assignment(IDS, after_members)
    moved = [pid for pid in IDS if before[pid] != after[pid]]
    assert all(after[pid] == "new" for pid in moved)  # nothing moves between old members
    expected = len(IDS) / (n + 1)
    assert abs(len(moved) - expected) <= 0.1 * expected, (len(moved), expected)


def test_removing_a_member_moves_only_its_own_probes():
    before = assignment(IDS, ["a", "b", "c", "d"])
    after = assignment(IDS, ["a", "b", "d"])
    assert all(before[p] == after[p] for p in IDS if before[p] != "c")
    assert all(after[p] != "c" for p in IDS)


def test_owner_of_no_members_is_an_error():
    with pytest.raises(ValueError):
        owner("x", [])


CONFIG = """
[agent]
{name}
[central]
dsn = "postgresql://"

[cluster]
location = "fra"
members = ["a", "b", "c"]

[[probes]]
id = "everywhere"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[probes]]
id = "ams-only"
kind = "tcp"
host = "127.0.0.1"
port = 2
locations = ["ams"]

[[probes]]
id = "fra-and-ams"
kind = "tcp"
host = "127.0.0.1"
port = 3
locations = ["fra", "ams"]
"""


def _config(text: str, tmp_path: Path):
    return parse_config(text, tmp_path / "probes.toml")


def test_central_and_cluster_are_validated_dataclasses(tmp_path):
    config = _config(CONFIG.format(name=""), tmp_path)
    assert config.central == Central(dsn="postgresql://", batch=5000, interval=5.0)
    assert config.cluster == Cluster(location="fra", members=("a", "b", "c"))
    assert config.probes["fra-and-ams"].locations == ("fra", "ams")
    assert config.probes["everywhere"].locations == ()


def test_each_probe_of_a_location_runs_on_exactly_one_member(tmp_path):
    config = _config(CONFIG.format(name=""), tmp_path)
    runs = Counter(pid for m in "abc" for pid in probes_run_here(config, m))
    assert runs == {"everywhere": 1, "fra-and-ams": 1}  # ams-only is not run in fra
    assert probes_run_here(config, "stranger") == {}
    assert not runs_in(config.probes["ams-only"], "fra")


def test_without_cluster_every_probe_runs(tmp_path):
    text = CONFIG.format(name="").replace('[cluster]\nlocation = "fra"\n'
                                          'members = ["a", "b", "c"]\n', "")
    config = _config(text, tmp_path)
    assert config.cluster is None
    assert set(probes_run_here(config, "anyone")) == set(config.probes)
    assert any("'locations': has no effect without [cluster]" in w for w in config.warnings)


def test_an_agent_name_in_the_file_must_be_a_member(tmp_path):
    with pytest.raises(ConfigError) as e:
        _config(CONFIG.format(name='name = "zed"'), tmp_path)
    assert e.value.problems == [
        (f"{tmp_path / 'probes.toml'}:3: [agent] field 'name': 'zed' is not one of "
         "[cluster] members (a, b, c)")]
    assert _config(CONFIG.format(name='name = "b"'), tmp_path).agent.name == "b"


BAD = """
[central]
dsn = "mysql://x"
batch = 0
interval = "soon"
password = "x"

[cluster]
location = "Frankfurt am Main"
members = ["a", "a", ""]

[[probes]]
id = "p"
kind = "tcp"
host = "127.0.0.1"
port = 1
locations = "fra"
"""


def test_bad_central_and_cluster_tables_are_reported_with_lines(tmp_path):
    with pytest.raises(ConfigError) as e:
        _config(BAD, tmp_path)
    text = "\n".join(e.value.problems)
    name = str(tmp_path / "probes.toml")
    assert f"{name}:3: [central] field 'dsn': expected a libpq connection string" in text
    assert f"{name}:4: [central] field 'batch': must be between 1 and 1000000, got 0" in text
    assert f"{name}:5: [central] field 'interval':" in text
    assert f"{name}:6: [central]: unknown key 'password'" in text
    assert f"{name}:9: [cluster] field 'location': 'Frankfurt am Main' may use only" in text
    assert f"{name}:10: [cluster] field 'members': 'a' is listed twice" in text
    assert f"{name}:10: [cluster] field 'members': element 3: expected an id" in text
    assert f"{name}:17: probe 'p' field 'locations': expected an array of ids" in text


def test_a_dsn_that_libpq_cannot_parse_is_refused_without_echoing_it(tmp_path):
    pytest.importorskip("psycopg")
    text = '[central]\ndsn = "host=x password=hunter2 port"\n'
    with pytest.raises(ConfigError) as e:
        _config(text, tmp_path)
    assert "not a valid libpq connection string" in e.value.problems[0]
    assert "hunter2" not in "\n".join(e.value.problems)


def test_a_password_in_the_dsn_of_a_world_readable_file_is_warned_about(tmp_path):
    pytest.importorskip("psycopg")
    from slaprobe.config import load_config

    path = tmp_path / "probes.toml"
    path.write_text('[central]\ndsn = "postgresql://u:hunter2@db.example/slaprobe"\n')
    path.chmod(0o644)
    assert any("chmod 600" in w for w in load_config(path).warnings)
    path.write_text('[central]\ndsn = "postgresql://u@db.example/slaprobe"\n')
    assert not any("chmod 600" in w for w in load_config(path).warnings)


def test_run_refuses_a_name_that_is_not_a_member(tmp_path):
    from e2e import slaprobe

    path = tmp_path / "probes.toml"
    path.write_text(CONFIG.format(name=""))
    out = slaprobe("run", "--config", str(path), "--name", "zed", "--db",
                   str(tmp_path / "x.db"))
    assert out.returncode == 2
    assert "agent name 'zed' is not one of [cluster] members (a, b, c)" in out.stderr
    assert not (tmp_path / "x.db").exists()
