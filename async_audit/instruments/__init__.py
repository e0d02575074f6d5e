"""Instruments that feed the per-request trace.

``install()`` patches once per process (idempotent, thread-safe); ``uninstall()`` puts every
patched attribute back and stops the watchdog. While installed, an untraced request pays
one ContextVar read per patched call (and, at each hop's hand-off to its worker thread, a
test of an empty dict); errors inside an instrument are counted
(``async_audit.trace.instrument_errors()``) and never reach the host's code.
"""

from __future__ import annotations

import threading

from async_audit.instruments import blocking, cache, db, errors, hops, http, views, watchdog
from async_audit.instruments._patch import Patches

__all__ = ["install", "installed", "uninstall"]

_lock = threading.Lock()
_patches: Patches | None = None


def installed() -> bool:
    return _patches is not None


def install() -> bool:
    """Install every instrument; False if they already were."""
    global _patches
    from async_audit import conf

    with _lock:
        if _patches is not None:
            return False
        patches = Patches()
        try:
            hops.install(patches)
            http.install(patches)
            cache.install(patches)
            views.install(patches)
            blocking.install(patches, min_ms=float(conf.get("BLOCKING_MIN_MS")))
            db.install()
            errors.install()
            watchdog.start(
                interval_ms=float(conf.get("WATCHDOG_INTERVAL_MS")),
                threshold_ms=float(conf.get("LOOP_LAG_MS")),
            )
        except BaseException:
            patches.restore()
            blocking.uninstall()
            db.uninstall()
            errors.uninstall()
            watchdog.stop()
            raise
        _patches = patches
        return True


def uninstall() -> bool:
    """Remove every instrument; False if none were installed."""
    global _patches
    with _lock:
        if _patches is None:
            return False
        watchdog.stop()
        db.uninstall()
        errors.uninstall()
        blocking.uninstall()
        _patches.restore()
        _patches = None
        return True
