"""Write a file so that readers see the old content or the new, never half of it.

A report written over an old one, then a crash or a full disk, must not leave
a truncated CSV that a billing script reads as the month's figures. So:

1. write a temporary file in the same folder (same file system, so the rename
   is atomic) and fsync it;
2. give it the old file's permissions, or 0644 limited by the umask;
3. os.replace it over the target and fsync the folder, so the rename survives
   a power cut;
4. on any error remove the temporary file and let the error rise.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its rename is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path | str, text: str, *, encoding: str = "utf-8") -> None:
    """Replace `path` with `text` atomically; line endings are written as given.

        write_atomic(Path("2026-11.csv"), render_report(data, "csv"))
    """
    path = Path(path)
    folder = path.parent
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode(encoding))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
