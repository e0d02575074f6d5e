"""The background writer: a bounded queue on the request side, batches on the storage side.

A request only appends its finished trace to a deque (never waits, never touches storage).
One daemon thread per process wakes every ``SAMPLE_FLUSH_SECONDS`` (or when a batch is
ready), exports the traces, writes them in one batch, and records its counters where the
command can read them. A full queue or failing storage drops samples, counted by reason and
logged at most once per interval, never retried in a loop and never waited for.

Flushing: the thread's interval flush; at ASGI lifespan shutdown (``lifespan``: uvicorn
ends its workers by re-raising SIGTERM, which skips ``atexit``); and at process exit
(``atexit``: gunicorn's sync workers and daphne exit normally). A forked worker (gunicorn
``--preload``) starts afresh: its own queue, counters, locks and thread.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import Counter, deque
from functools import partial
from typing import Any

from async_audit.sampling.record import HOST, make_record
from async_audit.sampling.sinks import Sink
from async_audit.trace.core import Trace

__all__ = ["Writer", "current_writer", "writer_from_settings"]

logger = logging.getLogger("async_audit")

PRUNE_EVERY_SECONDS = 3600.0
EXIT_TIMEOUT_SECONDS = 5.0

# (trace, method, rate in force, forced)
Item = tuple[Trace, str, float, bool]


class Writer:
    def __init__(
        self,
        sink: Sink | None,
        queue_size: int = 1000,
        batch_size: int = 200,
        flush_seconds: float = 2.0,
        prune_days: int | None = None,
    ) -> None:
        self.sink = sink
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.prune_days = prune_days
        self._fresh_state()
        # A child forked while a parent thread held a lock would inherit it held forever,
        # and the parent's queue and counters are not the child's: start the child afresh.
        os.register_at_fork(after_in_child=partial(_fresh_in_child, weakref.ref(self)))

    def _fresh_state(self) -> None:
        self._queue: deque[Item] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one drain at a time (thread, exit flush, tests)
        self._log_lock = threading.Lock()  # a drop summary is taken and said as one step
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False
        self.boot = time.time()
        self.sampled = 0
        self.stored = 0
        self.dropped: Counter[str] = Counter()
        self._persisted: tuple[int, int, tuple[tuple[str, int], ...]] | None = None
        self._last_log = 0.0
        self._unlogged: Counter[str] = Counter()
        self._next_prune = 0.0
        # Taken from the queue, not yet stored or dropped: at a timed-out exit these are
        # counted as dropped too, and whatever the stuck write does afterwards is ignored.
        self._inflight = 0
        self._abandoned = False

    # -- the request side ---------------------------------------------------------------------

    def submit(self, trace: Trace, method: str, rate: float, forced: bool) -> None:
        """Queue one finished trace; never blocks on storage."""
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            self.sampled += 1
            full = len(self._queue) >= self.queue_size
            if not full:
                self._queue.append((trace, method, rate, forced))
        if full:
            self._drop("queue_full", 1)
            return
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    # -- the thread ---------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="async_audit-writer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must outlive any bug: samples would pile up
                self._log_once("async_audit: writing samples failed", exc_info=True)

    def flush(self) -> None:
        """Write everything queued now, then the counters; prune when due."""
        if self.sink is None:
            with self._lock:
                n = len(self._queue)
                self._queue.clear()
            self._drop("no_sink", n)
            return
        with self._write_lock:
            while self._queue:
                self._write_batch(self.sink)
            self._write_counters(self.sink)
            if self.prune_days is not None and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                try:
                    self.sink.prune(self.prune_days)
                except Exception:
                    self.sink.release(broken=True)
                    self._log_once("async_audit: pruning old samples failed", exc_info=True)
            try:
                self.sink.release()
            except Exception:
                self._log_once("async_audit: closing the samples connection failed", exc_info=True)
            self._maybe_log()

    def _write_batch(self, sink: Sink) -> None:
        records = []
        drops: Counter[str] = Counter()
        with self._lock:
            n = min(self.batch_size, len(self._queue))
            items = [self._queue.popleft() for _ in range(n)]
            self._inflight = n
        for trace, method, rate, forced in items:
            if trace.route is None:
                drops["no_route"] += 1  # nothing resolved: no pattern to store it under
                continue
            try:
                records.append(sink.prepare(make_record(trace, method, rate, forced)))
            except Exception:  # this sample alone: the batch's others are still written
                drops["export_error"] += 1
        stored = 0
        if records:
            try:
                sink.write(records)
                stored = len(records)
            except Exception:
                drops[sink.reason] += len(records)
        with self._lock:
            self._inflight = 0
            if self._abandoned:
                return  # close() gave up on this batch and already counted it
            self.stored += stored
            self.dropped.update(drops)
            self._unlogged.update(drops)

    def _write_counters(self, sink: Sink) -> None:
        snapshot = self.counters()
        key = (snapshot["sampled"], snapshot["stored"], tuple(sorted(self.dropped.items())))
        if key == self._persisted or key == (0, 0, ()):
            return  # unchanged, or a process that never sampled (the command's, say)
        try:
            sink.write_counters(snapshot)
        except Exception:
            return  # storage is down: the samples' drops are already counted; retried next time
        self._persisted = key

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "host": HOST,
                "pid": os.getpid(),
                "boot": self.boot,
                "sampled": self.sampled,
                "stored": self.stored,
                "dropped": dict(self.dropped),
                "queued": len(self._queue),
            }

    # -- drops --------------------------------------------------------------------------------

    def _drop(self, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self.dropped[reason] += n
            self._unlogged[reason] += n

    def _maybe_log(self, force: bool = False, timeout: float = -1) -> None:
        """At most one warning per flush interval, summing what was dropped since the last.

        The summary is taken and logged under one lock, so the exit's last word (``force``)
        waits for a summary the thread has taken but not said yet.
        """
        if not force and time.monotonic() - self._last_log < self.flush_seconds:
            return
        if not self._log_lock.acquire(timeout=timeout):
            return
        try:
            with self._lock:
                summary = ", ".join(f"{n} {r}" for r, n in sorted(self._unlogged.items()))
                self._unlogged.clear()
            if summary:
                self._last_log = time.monotonic()
                logger.warning("async_audit: samples dropped: %s", summary)
        finally:
            self._log_lock.release()

    def _log_once(self, message: str, exc_info: bool = False) -> None:
        if time.monotonic() - self._last_log >= self.flush_seconds:
            self._last_log = time.monotonic()
            logger.warning(message, exc_info=exc_info)

    # -- the end ------------------------------------------------------------------------------

    def close(self, timeout: float = EXIT_TIMEOUT_SECONDS) -> None:
        """Stop the thread and write what is left (at process exit)."""
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout)
            if thread.is_alive():
                # Stuck on storage: what is queued, and the batch being written, cannot be
                # stored in time (the log below is the last word: count them now).
                with self._lock:
                    n = len(self._queue) + self._inflight
                    self._queue.clear()
                    self._inflight = 0
                    self._abandoned = True
                self._drop("shutdown", n)
                self._maybe_log(force=True, timeout=timeout)
                return
        if self._pid == os.getpid():
            self.flush()
            self._maybe_log(force=True)  # the last word: nothing dropped goes unsaid


def _fresh_in_child(ref: weakref.ref[Writer]) -> None:
    writer = ref()
    if writer is not None:
        writer._fresh_state()


_writer: Writer | None = None
_writer_lock = threading.Lock()


def current_writer() -> Writer | None:
    return _writer


def writer_from_settings() -> Writer:
    """The process's one writer, made from ``ASYNC_AUDIT`` on first use."""
    global _writer
    with _writer_lock:
        if _writer is None:
            from async_audit import conf
            from async_audit.sampling.sinks import DatabaseSink, FileSink

            sink: Sink | None = None
            kind = conf.get("SAMPLE_SINK")
            if kind == "database":
                sink = DatabaseSink(conf.get("SAMPLE_DB_ALIAS"))
            elif kind == "file":
                path = conf.get("SAMPLE_FILE")
                sink = FileSink(path) if path else None
            _writer = Writer(
                sink,
                queue_size=conf.get("SAMPLE_QUEUE_SIZE"),
                batch_size=conf.get("SAMPLE_BATCH_SIZE"),
                flush_seconds=float(conf.get("SAMPLE_FLUSH_SECONDS")),
                prune_days=conf.get("RETENTION_DAYS") if conf.get("PRUNE_FROM_WRITER") else None,
            )
            atexit.register(_writer.close)
        return _writer
