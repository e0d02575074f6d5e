"""The test project's ASGI app with every request traced; traces go to $AA_TRACE_OUT as JSON lines."""

from __future__ import annotations

import json
import os

import django
from django.core.asgi import get_asgi_application

from async_audit import instruments
from async_audit.trace import Trace
from async_audit.trace.asgi import TracedASGIApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()
instruments.install()
_out = open(os.environ["AA_TRACE_OUT"], "a", buffering=1)  # noqa: SIM115  # one line per trace


def _write(trace: Trace) -> None:
    _out.write(json.dumps(trace.to_dict(private=True)) + "\n")


app = TracedASGIApp(get_asgi_application(), _write)
