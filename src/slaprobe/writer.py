"""The single writer thread: owns the SQLite connection, so the event loop never waits on disk.

Checks are queued from the loop and written in batches every `flush_every`
seconds (bounding what SIGKILL can lose), and everything queued is written on
close (SIGTERM loses nothing). When the database cannot be written (locked,
disk full, read-only) the batch stays in memory, up to `max_buffer` checks,
and is retried with backoff; the failure is logged and exposed in `stats`.
A database file deleted, renamed or replaced while open would silently take
every later write with it, so the thread looks for that about once a second
and saves what the open connection holds (`Store.rescue`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from .checks import Check
from .errors import StoreError
from .store import Store

log = logging.getLogger("slaprobe.writer")
_CLOSE = object()


@dataclass
class WriterStats:
    written: int = 0
    write_errors: int = 0
    dropped: int = 0
    buffered: int = 0
    last_error: str | None = None
    last_flush_seconds: float = 0.0
    rescues: int = 0  # database files found deleted or replaced, and saved again


class Writer:
    """Usage: ``w = Writer(path); w.start(); w.put(check); ...; w.close()``."""

    def __init__(self, path: Path, *, flush_every: float = 0.25, max_batch: int = 20_000,
                 max_buffer: int = 1_000_000, file_check_every: float = 1.0):
        self.path = path
        self.file_check_every = file_check_every
        self._next_file_check = 0.0
        self._rescue_after = 0.0
        self._error_logged_at = 0.0
        self.flush_every = flush_every
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # put(check) is the queue's own put: one C call per check from the loop
        self.put = self._queue.put  # type: ignore[method-assign,assignment]
        self._thread = threading.Thread(target=self._run, name="slaprobe-writer", daemon=True)
        self._opened = threading.Event()
        self._wake = threading.Event()
        self._open_error: BaseException | None = None
        self._run_id: int | None = None
        self.agent = ""

    def start(self, agent: str = "") -> None:
        """Open the database in the writer thread; raise StoreError if it cannot be opened."""
        self.agent = agent
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def put(self, check: Check) -> None:  # replaced in __init__ by the queue's put
        self._queue.put(check)

    def depth(self) -> int:
        return self._queue.qsize() + self.stats.buffered

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, record the stop, and end the thread."""
        if self._thread.is_alive():
            self._queue.put(_CLOSE)
            self._wake.set()
            self._thread.join(timeout)

    # -- the thread ------------------------------------------------------
    def _run(self) -> None:
        store: Store | None
        try:
            store = Store(self.path)
            if self.agent:
                self._run_id = store.record_start(self.agent, time.time())
        except BaseException as e:  # reported to start()
            self._open_error = e if isinstance(e, StoreError) else StoreError(f"{self.path}: {e}")
            self._opened.set()
            return
        self._opened.set()
        pending: deque[Check] = deque()
        backoff = 0.0
        while True:
            # One wake-up per flush period, not one per check (bench/FINDINGS.md: the
            # writer's CPU per check halves); close() sets the event to end the wait early.
            closing = self._wake.wait(backoff or self.flush_every)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _CLOSE:
                    closing = True
                else:
                    pending.append(item)  # type: ignore[arg-type]
            store = self._keep_file(store, force=closing)
            backoff = self._flush(store, pending, backoff)
            if closing:
                if pending:  # one last try, then give up loudly
                    self._flush(store, pending, 0.0)
                    if pending:
                        log.error("could not write %d checks to %s: %s", len(pending),
                                  self.path, self.stats.last_error)
                if self._run_id is not None and store is not None:
                    try:
                        store.record_stop(self._run_id, time.time())
                    except Exception as e:  # noqa: BLE001 - the stop record is best effort
                        log.warning("could not record the agent's stop: %s", e)
                if store is not None:
                    store.close()
                return

    def _keep_file(self, store: Store | None, *, force: bool = False) -> Store | None:
        """The store to write with: reopened when it had to be closed, saved again when
        its file was deleted, renamed or replaced under us (checked every second)."""
        now = time.monotonic()
        if store is None:
            try:
                return Store(self.path)
            except StoreError as e:
                self.stats.last_error = str(e)
                return None
        if not force and now < self._next_file_check:
            return store
        self._next_file_check = now + self.file_check_every
        if not store.file_lost() or (now < self._rescue_after and not force):
            return store
        log.error("database file %s was deleted, renamed or replaced while the agent was "
                  "running; saving what it held", self.path)
        try:
            new, target = store.rescue()
        except StoreError as e:
            self._rescue_after = now + 30.0
            self.stats.write_errors += 1
            log.error("%s; retrying in 30 s", e)
            return None if store.closed else store
        self.stats.rescues += 1
        if target == self.path:
            log.warning("database restored at %s with every check it held", target)
        else:
            log.warning("another file is now at %s and is used from now on; the checks the "
                        "old one held are saved in %s", self.path, target)
        return new

    def _flush(self, store: Store | None, pending: deque[Check], backoff: float) -> float:
        """Write pending checks in batches; on failure keep them (bounded) and back off."""
        while pending:
            batch = [pending[i] for i in range(min(len(pending), self.max_batch))]
            started = time.monotonic()
            try:
                if store is None:
                    raise StoreError(self.stats.last_error or f"{self.path}: database not open")
                store.insert_checks(batch, live=True)
            except StoreError as e:
                self.stats.write_errors += 1
                # the first failure, a new reason, then a reminder a minute while it lasts
                if self.stats.last_error != str(e) or started - self._error_logged_at >= 60:
                    log.error("database write failed, keeping %d checks in memory: %s",
                              len(pending), e)
                    self._error_logged_at = started
                self.stats.last_error = str(e)
                while len(pending) > self.max_buffer:
                    pending.popleft()
                    self.stats.dropped += 1
                self.stats.buffered = len(pending)
                return min(max(backoff * 2, 0.5), 10.0)
            if self.stats.last_error is not None:
                log.warning("database writable again; writing the %d checks kept in memory",
                            len(pending))
                self.stats.last_error = None
            for _ in batch:
                pending.popleft()
            self.stats.written += len(batch)
            self.stats.last_flush_seconds = time.monotonic() - started
        self.stats.buffered = 0
        return 0.0
