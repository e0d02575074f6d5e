"""Event records held by a trace.

Times are raw ``time.perf_counter()`` readings: taking them is the cheapest thing an
instrument can do. ``Trace.to_dict`` turns them into millisecond offsets from the request
start. Records are slotted dataclasses: a traced request may hold thousands of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "BlockingCall",
    "CacheCall",
    "Event",
    "Frame",
    "Hop",
    "HttpCall",
    "LoopLag",
    "Query",
    "RaisedException",
    "ViewCall",
]

# (filename, line number, function name): cheap to capture, JSON-safe as a list.
Frame = tuple[str, int, str]


@dataclass(slots=True, eq=False)
class Event:
    kind: ClassVar[str] = "event"
    start: float
    end: float | None
    thread: int
    on_loop: bool

    @property
    def duration(self) -> float:
        return 0.0 if self.end is None else max(0.0, self.end - self.start)


@dataclass(slots=True, eq=False)
class Hop(Event):
    """One ``sync_to_async`` or ``async_to_sync`` call."""

    kind: ClassVar[str] = "hop"
    direction: str = "sync_to_async"  # or "async_to_sync"
    target: str = ""
    thread_sensitive: bool = True
    site: Frame | None = None
    # Filled in by the worker thread (sync_to_async only): when the function really ran,
    # so start..run_start is the queue wait, and the CPU time it used there.
    run_start: float | None = None
    run_end: float | None = None
    run_thread: int | None = None
    cpu: float | None = None
    nested: bool = False  # ran inside another hop on the same thread (its CPU is counted there)
    error: str | None = None

    @property
    def queue_wait(self) -> float | None:
        return None if self.run_start is None else max(0.0, self.run_start - self.start)

    @property
    def overhead(self) -> float:
        """Time the hop cost beyond its function's own run (all of it for async_to_sync)."""
        if self.run_start is None or self.run_end is None:
            return self.duration if self.direction == "sync_to_async" else 0.0
        return max(0.0, self.duration - (self.run_end - self.run_start))


@dataclass(slots=True, eq=False)
class Query(Event):
    kind: ClassVar[str] = "query"
    alias: str = "default"
    vendor: str = ""
    sql: str = ""  # the statement as sent, placeholders kept; parameters are never recorded
    many: bool = False
    error: str | None = None


@dataclass(slots=True, eq=False)
class HttpCall(Event):
    kind: ClassVar[str] = "http"
    client: str = "http.client"
    method: str = ""
    host: str = ""
    port: int | None = None
    path: str = ""  # without the query string
    status: int | None = None
    error: str | None = None


@dataclass(slots=True, eq=False)
class CacheCall(Event):
    kind: ClassVar[str] = "cache"
    backend: str = ""
    alias: str | None = None
    op: str = ""
    hit: bool | None = None
    error: str | None = None


@dataclass(slots=True, eq=False)
class BlockingCall(Event):
    """A blocking call made on the event loop thread."""

    kind: ClassVar[str] = "blocking"
    call: str = ""  # e.g. "time.sleep", "socket.recv"
    category: str = ""  # sleep, socket, dns, file, sqlite, subprocess, lock
    site: Frame | None = None
    stack: list[Frame] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class LoopLag(Event):
    """The loop did not tick for longer than the threshold (seen by the watchdog)."""

    kind: ClassVar[str] = "loop_lag"
    site: Frame | None = None
    stack: list[Frame] = field(default_factory=list)
    # Since the last heartbeat: the loop thread's CPU time, and its time runnable but
    # waiting for a CPU (Linux's schedstat). None where the platform cannot tell.
    cpu: float | None = None
    queued: float | None = None


@dataclass(slots=True, eq=False)
class RaisedException(Event):
    """An exception Django turned into an error response (``got_request_exception``).

    Only the type's dotted name and where it was raised: messages may hold user data.
    """

    kind: ClassVar[str] = "exception"
    type_name: str = ""
    message: str = ""  # in memory only: exported with private=True, never stored
    site: Frame | None = None
    stack: list[Frame] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ViewCall(Event):
    """The view itself ran from ``start`` to ``end`` (in its thread, for a sync view)."""

    kind: ClassVar[str] = "view"
    name: str = ""
    is_async: bool = False
