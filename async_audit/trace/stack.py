"""Call sites and stacks, cheaply.

A "library" frame is one in Django, asgiref, the standard library or this package: the call
site users care about is the first frame outside them.
Classification is cached per code object, so walking a stack is a few dict lookups.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import site
import sysconfig
from types import CodeType, FrameType
from typing import Any

import asgiref
import django

from async_audit.trace.events import Frame

__all__ = [
    "SiteMemo",
    "blocking_site",
    "call_site",
    "capture_stack",
    "first_user_frame",
    "frame_site",
    "is_library_file",
    "mark_boundary",
]


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


# Caches below are keyed by ``id(code)``, never by the code object: hashing a code object
# hashes its name, constants and names every time (thousands of instructions for a big
# function or a module), its id costs nothing. Every code object seen is kept here, so an
# id is never reused by another code object while it is a key.
_codes: dict[int, CodeType] = {}


def _keep(code: CodeType) -> int:
    key = id(code)
    _codes[key] = code
    return key


# Where a walk stops: request owners, and the loop's callback runner, the root of every
# task step (Django runs the middleware chain in a task of its own).
_boundaries: set[int] = {_keep(asyncio.events.Handle._run.__code__)}


def mark_boundary(func: Any) -> Any:
    """Declare ``func`` a request owner: call sites are never looked for beyond its frame."""
    code = getattr(func, "__code__", None)
    if code is not None:
        key = _keep(code)
        _boundaries.add(key)
        _code_class.pop(key, None)
    return func


# Frame classes, cached per code object: one dict lookup per frame on the hot path.
_USER, _DJANGO, _PLUMBING, _BOUNDARY, _OWN = 0, 1, 2, 3, 4
_code_class: dict[int, int] = {}


def _classify(code: CodeType) -> int:
    key = _keep(code)
    if key in _boundaries:
        kind = _BOUNDARY
    elif code.co_filename.startswith(_OWN_DIR):
        kind = _OWN  # plumbing too: only ``capture_stack`` tells it apart
    elif _is_plumbing(code.co_filename):
        kind = _PLUMBING
    elif is_library_file(code.co_filename):
        kind = _DJANGO
    else:
        kind = _USER
    _code_class[key] = kind
    return kind


# A frame's (filename, line, function) by (code, instruction offset): reading ``f_lineno``
# scans the code's line table from its start, the offset is a field. Bounded: code made
# at run time (templates compiled per request, exec) must not grow it forever.
_sites: dict[tuple[int, int], Frame] = {}
_SITES_MAX = 32768


def frame_site(frame: FrameType) -> Frame:
    """``(co_filename, f_lineno, co_name)`` of a frame, where it is now."""
    code = frame.f_code
    key = (id(code), frame.f_lasti)
    site = _sites.get(key)
    if site is None:
        line = frame.f_lineno
        if line is None:  # an instruction without a line (a loop's jump back, sampled)
            line = _line_before(code, frame.f_lasti)
        site = (code.co_filename, line, code.co_name)
        if len(_sites) < _SITES_MAX:
            _keep(code)
            _sites[key] = site
    return site


def _line_before(code: CodeType, offset: int) -> int:
    """The line of the last instruction with one at or before ``offset`` (a byte offset,
    as ``f_lasti`` gives it), else the function's first line."""
    best = code.co_firstlineno
    for start, _end, line in code.co_lines():
        if start > offset:
            break
        if line is not None:
            best = line
    return best


# Frames whose caller may change between resumptions: never memoized.
_CO_GENERATORS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR

SiteMemo = dict[FrameType, tuple["FrameType | None", "FrameType | None"]]


def call_site(
    frame: FrameType | None, max_depth: int = 64, memo: SiteMemo | None = None
) -> Frame | None:
    """The first frame outside the libraries, walking outwards from ``frame``.

    When the walk reaches the request's owner (the server side) without finding one, the
    hop was Django's own (a middleware hook, a signal): then the Django line that made it.

    ``memo`` (one per trace) remembers, per frame walked, the first user frame and the first
    Django frame at or above it. A request's hops are made from the same nest of middleware
    coroutines, so later walks stop after a frame or two instead of climbing the whole
    chain again (materialising each frame object on the way is what a walk costs). A
    coroutine's or function's callers are fixed for its lifetime, so a remembered answer
    stays true; generators, resumed from anywhere, are never remembered. Line numbers are
    read when the site is returned, so they are always current.
    """
    if memo is not None and frame is not None:
        # Most hops are made from a frame walked before in this request (a middleware's
        # request and response hooks run from one coroutine): no walk at all.
        hit = memo.get(frame)
        if hit is not None:
            found = hit[0] if hit[0] is not None else hit[1]
            return None if found is None else frame_site(found)
    user: FrameType | None = None
    django_frame: FrameType | None = None
    above: FrameType | None = None  # the remembered Django frame where the walk joined
    walked: list[FrameType] = []
    complete = True
    depth = 0
    while True:
        if frame is None:
            break
        if depth >= max_depth:
            complete = False
            break
        if memo is not None:
            hit = memo.get(frame)
            if hit is not None:
                user = hit[0]
                above = hit[1]
                if django_frame is None:
                    django_frame = above
                break
        code = frame.f_code
        kind = _code_class.get(id(code))
        if kind is None:
            kind = _classify(code)
        if kind == _USER:
            user = frame
            if memo is not None and not walked:
                # Made from the project's own frame: the answer is that frame, whatever
                # resumed it (a generator too), for as long as it lives.
                memo[frame] = (frame, None)
            break
        if kind == _BOUNDARY:
            break
        if kind == _DJANGO and django_frame is None:
            django_frame = frame
        if memo is not None:
            walked.append(frame)
        frame = frame.f_back
        depth += 1
    if walked and complete:
        # Each walked frame: the first user frame and the nearest Django frame at or above.
        for frame in reversed(walked):
            code = frame.f_code
            if _code_class.get(id(code)) == _DJANGO:
                above = frame
            if not code.co_flags & _CO_GENERATORS:
                memo[frame] = (user, above)  # type: ignore[index]
    found = user if user is not None else django_frame
    if found is None:
        return None
    return frame_site(found)


def capture_stack(frame: FrameType | None, limit: int = 40) -> list[Frame]:
    """Innermost first, up to the request's boundary; this package's own frames left out."""
    out: list[Frame] = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        kind = _code_class.get(id(code))
        if kind is None:
            kind = _classify(code)
        if kind == _BOUNDARY:
            break
        if kind != _OWN:
            out.append(frame_site(frame))
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


def blocking_site(stack: list[Frame]) -> Frame | None:
    """Where a blocking call is to be fixed: ``first_user_frame``, unless asgiref itself made
    the call (the innermost frame outside the standard library is asgiref's: it starts a
    thread for each request's sync work). That wait comes with hopping, which AA303 covers;
    the project line that hopped has no blocking call to replace."""
    for f in stack:
        if not _is_stdlib(f[0]):
            if f[0].startswith(_ASGIREF_DIR):
                return None
            break
    return first_user_frame(stack)
