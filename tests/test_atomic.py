"""write_atomic: readers see the old file or the new one, never a torn or leftover one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from slaprobe.atomic import write_atomic


def test_writes_utf8_text_as_given(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    write_atomic(target, "a,b\r\nZürich,1\n")
    assert target.read_bytes() == "a,b\r\nZürich,1\n".encode()
    assert os.listdir(tmp_path) == ["report.csv"]  # no temporary file left


def test_replaces_and_keeps_the_old_mode(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_new_file_is_0644_within_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.md").stat().st_mode) == 0o640
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "b.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b.md").stat().st_mode) == 0o644


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "\ud800")  # cannot be encoded
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.json"]


def test_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nope" / "r.csv", "x")
