"""Settings for ``bench/load.py``: the demo project as is, but with DEBUG off.

A load test measures what production pays, and with DEBUG on Django keeps every query in
memory (the demo's own AA108 finding). Everything else (middleware, CONN_MAX_AGE, the
database, which ``DEMO_SQLITE_PATH`` chooses) stays the demo's.
"""

from __future__ import annotations

from demo_site.settings import *  # noqa: F403

DEBUG = False
