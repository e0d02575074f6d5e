from __future__ import annotations

from collections.abc import Iterator

import pytest

from async_audit import instruments
from async_audit.sampling import writer
from tests.demo.conftest import demo_env  # noqa: F401  # the demo, migrated, for test_demo


@pytest.fixture(autouse=True)
def fresh_writer() -> Iterator[None]:
    """Each test gets the process's writer made from its own settings; instruments removed after."""
    writer._writer = None
    try:
        yield
    finally:
        if writer._writer is not None:
            writer._writer._stopping = True
            writer._writer._wake.set()
        writer._writer = None
        instruments.uninstall()
