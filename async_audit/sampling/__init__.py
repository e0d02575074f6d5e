"""Staging sampling: the middleware's decision, the background writer, its sinks, and reading back.

Data flows one way: ``middleware`` decides (``decide``) and owns a trace, ``writer`` queues
and batches it into a sink (``sinks``: the database or a JSON Lines file) as a privacy-safe
record (``record``); ``health`` and ``files`` read the counters and files back for the report.
"""

from __future__ import annotations

from async_audit.sampling.decide import FORCE_HEADER, force_token

__all__ = ["FORCE_HEADER", "force_token"]
