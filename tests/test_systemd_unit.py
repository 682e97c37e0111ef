"""systemd/slaprobe.service: the directives the daemon relies on, and systemd's own checks.

`systemd-analyze verify` and `systemd-analyze security --offline=true` read the
unit without a running systemd, so they run in CI containers too (.ci/run
installs the Debian `systemd` package for them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "slaprobe.service"
EXEC = "/opt/slaprobe/bin/slaprobe"
MAX_EXPOSURE = 2.0

systemd_analyze = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    systemd_analyze is None,
    reason="SKIPPED LOUDLY: systemd-analyze is not installed, so the unit's sandbox score and "
    "syntax are NOT checked; `apt-get install systemd` (Debian) to run these tests",
)


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; keys may repeat, as systemd allows."""
    out: list[tuple[str, str, str]] = []
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for section, key, value in directives(UNIT.read_text(encoding="utf-8")):
        if section == "Service":
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "30s"),
        (
            "ExecStart",
            f"{EXEC} run --config /etc/slaprobe/probes.toml --db /var/lib/slaprobe/slaprobe.db",
        ),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "2"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "slaprobe"),
        ("ConfigurationDirectory", "slaprobe"),
        ("AmbientCapabilities", "CAP_NET_RAW"),
        ("CapabilityBoundingSet", "CAP_NET_RAW"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"),
        ("SystemCallArchitectures", "native"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("RestrictNamespaces", "yes"),
        ("UMask", "0077"),
        ("ProtectProc", "invisible"),
        ("ProcSubset", "pid"),
    ],
)
def test_unit_sets(key: str, value: str) -> None:
    assert service().get(key) == [value]


def test_system_call_filter_allows_service_calls_minus_privileged_ones() -> None:
    assert service()["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]


def test_nothing_that_would_break_icmp_or_reaching_targets() -> None:
    values = service()
    # CAP_NET_RAW held inside a user namespace does not reach the host's network.
    assert values.get("PrivateUsers", ["no"]) == ["no"]
    assert "PrivateNetwork" not in values
    assert "IPAddressDeny" not in values


def test_load_credential_is_offered_but_optional() -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^#LoadCredential=\S+:/etc/slaprobe/", text, re.MULTILINE)
    assert "LoadCredential" not in service()


@needs_systemd_analyze
def test_security_exposure_is_at_most_2() -> None:
    assert systemd_analyze is not None
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for slaprobe\.service: (\d+(?:\.\d+)?)", output)
    assert match, f"no exposure line in:\n{output}"
    exposure = float(match[1])
    assert exposure <= MAX_EXPOSURE, output


@needs_systemd_analyze
def test_verify_is_clean(tmp_path: Path) -> None:
    """verify also checks that ExecStart exists: a copy points it at a real program."""
    assert systemd_analyze is not None
    true = shutil.which("true")
    assert true is not None
    text = UNIT.read_text(encoding="utf-8")
    assert EXEC in text
    copy = tmp_path / "slaprobe.service"  # the name matters: verify derives the unit name
    copy.write_text(text.replace(EXEC, true), encoding="utf-8")
    result = subprocess.run(
        [systemd_analyze, "verify", "--man=no", str(copy)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    about_unit = [line for line in output.splitlines() if "slaprobe" in line]
    assert result.returncode == 0, output
    assert about_unit == [], output


@needs_systemd_analyze
def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """Guards the test above: an unknown key must show up in verify's output."""
    assert systemd_analyze is not None
    true = shutil.which("true")
    assert true is not None
    text = UNIT.read_text(encoding="utf-8").replace(EXEC, true)
    copy = tmp_path / "slaprobe.service"
    copy.write_text(text.replace("[Service]\n", "[Service]\nProtectSytem=strict\n"), "utf-8")
    result = subprocess.run(
        [systemd_analyze, "verify", "--man=no", str(copy)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "ProtectSytem" in result.stdout + result.stderr
