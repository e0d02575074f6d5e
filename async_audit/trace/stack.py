"""Call sites and stacks, cheaply.

A "library" frame is one in Django, asgiref, the standard library or this package: the call
site users care about is the first frame outside them.
Classification is cached per code object, so walking a stack is a few dict lookups.
"""

from __future__ import annotations

import asyncio
import os
import site
import sysconfig
from types import CodeType, FrameType
from typing import Any

import asgiref
import django

from async_audit.trace.events import Frame

__all__ = ["call_site", "capture_stack", "first_user_frame", "is_library_file", "mark_boundary"]


def _dir(module_file: str | None) -> str:
    return os.path.dirname(module_file or "") + os.sep


_OWN_DIR = _dir(os.path.dirname(__file__))  # async_audit/
_DJANGO_DIR = _dir(django.__file__)
_ASGIREF_DIR = _dir(asgiref.__file__)
_PATHS = sysconfig.get_paths()


def _dirs(paths: list[str]) -> tuple[str, ...]:
    # Both spellings: code objects carry the path as imported, which may be a symlink.
    return tuple({d + os.sep for p in paths for d in (os.path.abspath(p), os.path.realpath(p))})


_STDLIB_DIRS = _dirs([_PATHS["stdlib"], _PATHS["platstdlib"]])
_SITE_DIRS = _dirs([_PATHS["purelib"], _PATHS["platlib"], *site.getsitepackages()])


def _is_stdlib(filename: str) -> bool:
    # site-packages may live inside the stdlib directory: look there first.
    return filename.startswith(_STDLIB_DIRS) and not filename.startswith(_SITE_DIRS)


def is_library_file(filename: str) -> bool:
    """Django, asgiref, this package, or the standard library."""
    return filename.startswith((_OWN_DIR, _DJANGO_DIR, _ASGIREF_DIR)) or _is_stdlib(filename)


def _is_plumbing(filename: str) -> bool:
    return filename.startswith((_OWN_DIR, _ASGIREF_DIR)) or _is_stdlib(filename)


_code_is_own: dict[CodeType, bool] = {}


def _is_own(code: CodeType) -> bool:
    hit = _code_is_own.get(code)
    if hit is None:
        hit = _code_is_own[code] = code.co_filename.startswith(_OWN_DIR)
    return hit


# Where a walk stops: request owners, and the loop's callback runner, the root of every
# task step (Django runs the middleware chain in a task of its own).
_boundaries: set[CodeType] = {asyncio.events.Handle._run.__code__}


def mark_boundary(func: Any) -> Any:
    """Declare ``func`` a request owner: call sites are never looked for beyond its frame."""
    code = getattr(func, "__code__", None)
    if code is not None:
        _boundaries.add(code)
        _code_class.pop(code, None)
    return func


# Frame classes, cached per code object: one dict lookup per frame on the hot path.
_USER, _DJANGO, _PLUMBING, _BOUNDARY = 0, 1, 2, 3
_code_class: dict[CodeType, int] = {}


def _classify(code: CodeType) -> int:
    if code in _boundaries:
        kind = _BOUNDARY
    elif _is_plumbing(code.co_filename):
        kind = _PLUMBING
    elif is_library_file(code.co_filename):
        kind = _DJANGO
    else:
        kind = _USER
    _code_class[code] = kind
    return kind


def call_site(frame: FrameType | None, max_depth: int = 64) -> Frame | None:
    """The first frame outside the libraries, walking outwards from ``frame``.

    When the walk reaches the request's owner (the server side) without finding one, the
    hop was Django's own (a middleware hook, a signal): then the Django line that made it.
    """
    fallback: Frame | None = None
    depth = 0
    while frame is not None and depth < max_depth:
        code = frame.f_code
        kind = _code_class.get(code)
        if kind is None:
            kind = _classify(code)
        if kind == _USER:
            return (code.co_filename, frame.f_lineno, code.co_name)
        if kind == _BOUNDARY:
            break
        if kind == _DJANGO and fallback is None:
            fallback = (code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
        depth += 1
    return fallback


def capture_stack(frame: FrameType | None, limit: int = 40) -> list[Frame]:
    """Innermost first, up to the request's boundary; this package's own frames left out."""
    out: list[Frame] = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        if code in _boundaries:
            break
        if not _is_own(code):
            out.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    return out


def first_user_frame(stack: list[Frame]) -> Frame | None:
    """The innermost frame of the project itself, else of any non-library code.

    ``requests.get`` blocking in urllib3 is reported at the project line that called it:
    that is the line to change.
    """
    fallback = None
    for f in stack:
        if not is_library_file(f[0]):
            if not f[0].startswith(_SITE_DIRS):
                return f
            fallback = fallback or f
    return fallback
