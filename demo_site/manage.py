#!/usr/bin/env python
"""``python demo_site/manage.py <command>`` from the repository root (or from anywhere)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    # Run as a script, Python puts demo_site/ itself on sys.path; the project is the
    # ``demo_site`` package, so its parent (the repository root) must come first.
    repo_root = str(Path(__file__).resolve().parent.parent)
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
