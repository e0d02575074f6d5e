"""Reversible attribute patches, remembered so uninstall puts back exactly what was there."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["ORIGINAL", "Patches"]

_MISSING = object()
# Every wrapper we install carries its original here, so a second install can refuse to
# wrap a wrapper and tests can tell our functions apart.
ORIGINAL = "__async_audit_original__"


class Patches:
    def __init__(self) -> None:
        self._applied: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, make: Any) -> bool:
        """Replace ``owner.name`` with ``make(original)``; False if absent or ours already."""
        try:
            original = getattr(owner, name)
        except AttributeError:
            return False
        if hasattr(original, ORIGINAL):
            return False
        wrapper = make(original)
        with contextlib.suppress(AttributeError, TypeError):
            setattr(wrapper, ORIGINAL, original)
        # Remember what the owner itself held (not what it inherited), so restoring a
        # subclass patch deletes ours instead of pinning the base class's function there.
        own = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
        setattr(owner, name, wrapper)
        self._applied.append((owner, name, own))
        return True

    def restore(self) -> None:
        while self._applied:
            owner, name, own = self._applied.pop()
            if own is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, own)

    def __len__(self) -> int:
        return len(self._applied)
