"""Probes (``async_audit.probe``): the host they send, the network guard, the terminal kept
quiet, and partial traces said as such in every report format."""

from __future__ import annotations

import json
import logging
import re
import socket
import urllib.error
import urllib.request

import httpx
import pytest
import requests

from async_audit.probe import _quiet, no_network, probe_host, run_probes
from async_audit.report import build_report, render

# -- the Host header ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debug", "allowed", "host"),
    [
        (True, [], "localhost"),  # what Django allows in DEBUG
        (False, ["*"], "localhost"),
        (False, [".example.com"], "example.com"),  # a wildcard gives a concrete name
        (False, ["shop.example.com", "localhost"], "shop.example.com"),
    ],
)
def test_probes_send_a_host_the_project_accepts(settings, debug, allowed, host):
    from django.http.request import validate_host

    settings.DEBUG, settings.ALLOWED_HOSTS = debug, allowed
    assert probe_host() == host
    effective = allowed or [".localhost", "127.0.0.1", "[::1]"]
    assert validate_host(host, effective)


def test_a_probe_of_a_project_with_strict_allowed_hosts_is_answered_not_refused(settings):
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    (probe,) = run_probes(["/sync/"])
    assert probe.status == 200 and probe.measured


# -- the network guard ----------------------------------------------------------------------


def _refused(exc: BaseException) -> bool:
    """A ConnectionRefusedError naming --allow-network somewhere in the exception's chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) and "--allow-network" in str(seen):
            return True
        nxt = seen.__cause__ or seen.__context__ or getattr(seen, "reason", None)
        seen = nxt if isinstance(nxt, BaseException) else None
    return False


@pytest.mark.parametrize(
    "call",
    [
        lambda: socket.create_connection(("192.0.2.1", 80), timeout=2),
        lambda: socket.create_connection(("example.com", 80), timeout=2),  # a name, not a resolver error
        lambda: socket.getaddrinfo("example.com", 80),
        lambda: socket.gethostbyname("example.com"),
        lambda: urllib.request.urlopen("http://example.com/", timeout=2),
        lambda: requests.get("http://example.com/", timeout=2),
        lambda: httpx.get("http://example.com/", timeout=2),
    ],
    ids=["create_connection-ip", "create_connection-name", "getaddrinfo", "gethostbyname",
         "urllib", "requests", "httpx"],
)  # fmt: skip
def test_every_outbound_path_is_refused_with_connection_refused_error(call):
    with no_network(), pytest.raises(Exception) as excinfo:
        call()
    assert _refused(excinfo.value), repr(excinfo.value)
    assert not isinstance(excinfo.value, socket.gaierror)


def test_udp_datagrams_to_a_remote_address_are_refused_and_loopback_ones_pass():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with no_network():
            with pytest.raises(ConnectionRefusedError, match="--allow-network"):
                sender.sendto(b"leak", ("192.0.2.1", 53))
            with pytest.raises(ConnectionRefusedError):
                sender.sendto(b"leak", 0, ("192.0.2.1", 53))
            with pytest.raises(ConnectionRefusedError):
                sender.sendmsg([b"leak"], [], 0, ("192.0.2.1", 53))
            sender.sendto(b"local", receiver.getsockname())
        assert receiver.recv(16) == b"local"
    finally:
        sender.close()
        receiver.close()


def test_the_guard_is_removed_after_the_probes():
    with no_network():
        pass
    assert "sendto" not in socket.socket.__dict__ and "connect" not in socket.socket.__dict__
    assert socket.getaddrinfo("localhost", 80)


# -- a quiet terminal -----------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.names.append(record.name)


def test_djangos_logging_does_not_reach_any_handler_during_probes():
    handler = _Collect()
    django_logger = logging.getLogger("django")
    django_logger.addHandler(handler)
    shop = logging.getLogger("shop.views")
    shop.addHandler(handler)
    try:
        with _quiet():
            logging.getLogger("django.security.DisallowedHost").error("Invalid HTTP_HOST header")
            logging.getLogger("django.security.NewlyCreatedLogger").error("made while logging")
            logging.getLogger("django.request").error("Internal Server Error: /boom/")
            logging.getLogger("django.db.backends").error("(0.001) SELECT ... params=('secret',)")
            logging.getLogger("django.template").error("Exception while resolving variable")
            shop.error("the project's own logging is its own")
        logging.getLogger("django.request").error("heard again after the probes")
    finally:
        django_logger.removeHandler(handler)
        shop.removeHandler(handler)
    assert handler.names == ["shop.views", "django.request"]


# -- partial traces -------------------------------------------------------------------------


@pytest.fixture
def partial_report(settings):
    settings.ASYNC_AUDIT = {"MAX_EVENTS_PER_TRACE": 3}
    probes = run_probes(["/sync/", "/?q=private"])
    return build_report(None, probes)


def test_a_trace_that_hit_the_event_limit_says_how_many_events_were_dropped(partial_report):
    sync, home = partial_report["probes"]
    assert sync["dropped_events"] > 0 and home["dropped_events"] > 0
    by_route = {r["route"]: r for r in partial_report["routes"]}
    assert by_route["sync/"]["partial_samples"] == 1
    assert by_route["sync/"]["dropped_events"] == sync["dropped_events"]
    assert by_route[""]["partial_samples"] == 1  # the root route is a route like any other
    assert home["path"] == "/" and home["query_omitted"] is True


def test_a_partial_trace_keeps_the_evidence_of_its_error_level_findings(settings):
    # Three events kept of a request of 15 hops: its blocking call (AA301) is kept anyway.
    settings.ASYNC_AUDIT = {"MAX_EVENTS_PER_TRACE": 3}
    report = build_report(None, run_probes(["/async-sleep/"]))
    (probe,) = report["probes"]
    assert probe["dropped_events"] > 0
    assert "AA301" in {f["code"] for f in report["findings"]}
    assert report["routes"][0]["verdict"] == "fix-first"


def test_partial_figures_are_marked_in_every_format(partial_report):
    dropped = sum(q["dropped_events"] for q in partial_report["probes"])
    for fmt in ("text", "markdown", "html"):
        out = render(partial_report, fmt)
        assert f"{dropped} events were dropped" in out, fmt
        assert "partial*" in out and "lower bounds" in out, fmt
        assert "private" not in out, fmt
    text = render(partial_report, "text")
    assert re.search(r'^  "" \(root\)\s+views\.home\s+1\*', text, re.M), text
    assert json.loads(render(partial_report, "json"))["probes"][0]["dropped_events"] > 0


def test_aiohttp_is_refused_the_same_way():
    import asyncio

    import aiohttp

    async def get() -> None:
        async with aiohttp.ClientSession() as session:
            await session.get("http://example.com/", timeout=aiohttp.ClientTimeout(2))

    with no_network(), pytest.raises(Exception) as excinfo:
        asyncio.run(get())
    assert _refused(excinfo.value), repr(excinfo.value)
