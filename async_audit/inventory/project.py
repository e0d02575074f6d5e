"""Which code is the user's own: findings about Django's or a third party's code are noise.

The project root is ``settings.BASE_DIR`` when the project defines it (every
``startproject`` does), else the folder holding the package of ``ROOT_URLCONF``. Code under
the root counts as the project's unless it sits in an installed-packages folder (a
virtualenv inside the project folder is common).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import types
from pathlib import Path

from django.conf import settings

__all__ = ["dotted_path", "is_project_file", "is_project_object", "project_roots"]

_PACKAGE_DIRS = ("site-packages", "dist-packages")


def project_roots() -> tuple[Path, ...]:
    roots: list[Path] = []
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir:
        roots.append(Path(base_dir).resolve())
    root_urlconf = getattr(settings, "ROOT_URLCONF", None)
    if isinstance(root_urlconf, str) and root_urlconf:
        top = root_urlconf.split(".", 1)[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            origin = Path(spec.origin).resolve()
            # A package's origin is its __init__.py: the root is the folder above the package.
            folder = origin.parent.parent if origin.name == "__init__.py" else origin.parent
            roots.append(folder)
    return tuple(dict.fromkeys(roots))


@functools.lru_cache(maxsize=4096)
def _is_project_file(filename: str, roots: tuple[Path, ...]) -> bool:
    path = Path(filename).resolve()
    if any(part in _PACKAGE_DIRS for part in path.parts):
        return False
    return any(path.is_relative_to(root) for root in roots)


def is_project_file(filename: str | None, roots: tuple[Path, ...] | None = None) -> bool:
    if not filename:
        return False
    return _is_project_file(os.fspath(filename), roots if roots is not None else project_roots())


def is_project_object(obj: object, roots: tuple[Path, ...] | None = None) -> bool:
    try:
        obj = inspect.unwrap(obj)  # type: ignore[arg-type]
    except ValueError:  # a __wrapped__ cycle
        return False
    code = getattr(obj, "__code__", None)
    if isinstance(code, types.CodeType):
        # A function's own file, without getsourcefile's suffix and existence checks: this
        # runs once per view on every manage.py check.
        return is_project_file(code.co_filename, roots)
    try:
        filename = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return is_project_file(filename, roots)


def dotted_path(obj: object) -> str:
    """``module.qualname`` of a function or class; of its class for other objects."""
    if not hasattr(obj, "__qualname__"):
        obj = type(obj)
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{obj.__qualname__}"
