"""The capacity plan through ``manage.py async_audit``: --traffic, --convert, samples, formats."""

from __future__ import annotations

import json

import jsonschema
import pytest
from django.core.management import call_command

from tests.command.test_command import SCHEMA, manage

PROBES = ("--no-samples", "--probe", "/fanout/", "--probe", "/cpu/")


@pytest.fixture(scope="module")
def advised(upstream):
    """Both routes probed, traffic given; converted: what the report advises (fanout/)."""
    status, out, err = manage(
        *PROBES, "--format", "json", "--traffic", "fanout/=10", "--traffic", "cpu/=5",
        upstream=upstream,
    )  # fmt: skip
    assert status == 0, err
    return json.loads(out)


def test_the_plan_converts_the_advised_route_and_needs_fewer_wsgi_workers_after(advised):
    jsonschema.validate(advised, SCHEMA)
    cap = advised["capacity"]
    routes = {r["route"]: r for r in cap["routes"]}
    assert cap["converted_by"] == "advice"
    assert routes["fanout/"]["converted"] is True and routes["cpu/"]["converted"] is False
    assert routes["fanout/"]["rate_peak"] == 10.0 and routes["cpu/"]["rate_avg"] == 5.0
    assert routes["fanout/"]["rate_source"] == "--traffic fanout/=10"
    # Three sequential 40 ms calls overlap into one: the worker is held a third as long.
    fan = routes["fanout/"]
    assert fan["after"]["worker_ms"] < fan["today"]["worker_ms"] * 0.6
    # The sync-only middleware outermost holds a thread around the view, so the thread is
    # held at least for the overlapped calls (40 ms upstream) and about as long as the
    # request holds a worker: less on a loaded machine, where the loop's own slow work holds
    # a worker but no thread; a few ms more where hand-offs inside the thread add up.
    assert 40 <= fan["after"]["thread_ms"] <= fan["after"]["worker_ms"] * 1.25
    today, after = cap["plan"]["today"]["peak"], cap["plan"]["after"]["peak"]
    assert after["wsgi"]["offered_load"] < today["wsgi"]["offered_load"]
    assert after["wsgi"]["workers"] <= today["wsgi"]["workers"]
    assert after["asgi"]["threads_busy_mean"] < today["asgi"]["threads_busy_mean"]
    # The inputs are in the report: the offered load is rate x mean hold.
    assert today["wsgi"]["offered_load"] == pytest.approx(
        today["rate"] * today["wsgi"]["service_ms"] / 1000, abs=0.002
    )


def test_convert_plans_a_subset_and_a_cpu_bound_route_gains_no_worker(upstream):
    status, out, err = manage(
        *PROBES, "--format", "json", "--traffic", "*=5", "--convert", "cpu/", upstream=upstream
    )
    assert status == 0, err
    cap = json.loads(out)["capacity"]
    routes = {r["route"]: r for r in cap["routes"]}
    assert cap["converted_by"] == "--convert"
    assert routes["cpu/"]["converted"] is True and routes["fanout/"]["converted"] is False
    assert routes["fanout/"]["after"] == routes["fanout/"]["today"]
    cpu = routes["cpu/"]
    assert cpu["after"]["worker_ms"] == pytest.approx(cpu["today"]["worker_ms"], rel=0.05)
    plan = cap["plan"]
    assert plan["after"]["peak"]["wsgi"]["workers"] == plan["today"]["peak"]["wsgi"]["workers"]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", ["CAPACITY PLAN  Erlang C (M/M/c)", "WSGI workers (processes x threads)",
                  "today: WSGI A = 10 req/s x"]),
        ("markdown", ["### Capacity plan", "| WSGI workers (processes x threads) |",
                      "- today: WSGI A = 10 req/s x"]),
        ("html", ['<section id="capacity">', "<td>ASGI processes</td>", "today: WSGI A = 10 req/s x"]),
    ],
)  # fmt: skip
def test_every_format_shows_the_plan_and_its_arithmetic(upstream, fmt, expected):
    status, out, err = manage(
        *PROBES, "--format", fmt, "--traffic", "fanout/=10", upstream=upstream
    )
    assert status == 0, err
    for text in expected:
        assert text in out, text


def test_without_traffic_the_report_says_how_to_get_a_plan(upstream):
    status, out, err = manage("--no-samples", "--probe", "/cpu/", upstream=upstream)
    assert status == 0, err
    assert "CAPACITY PLAN" in out
    assert "no arrival rate for 1 route(s) with evidence (cpu/)" in out


def test_a_static_audit_has_no_capacity_section():
    status, out, err = manage("--no-samples", "--format", "json")
    assert status == 0, err
    assert json.loads(out)["capacity"] is None


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--traffic", "fanout/"], "--traffic 'fanout/': expected ROUTE=REQUESTS_PER_SECOND"),
        (["--traffic", "fanout/=fast"], "--traffic 'fanout/=fast': expected ROUTE="),
        (["--traffic", "fanout/=-1"], "--traffic 'fanout/=-1': expected ROUTE="),
        (["--traffic", "fanout/=nan"], "--traffic 'fanout/=nan': expected ROUTE="),
        (["--traffic", "nothing/=3"], "--traffic 'nothing/=3': no URL pattern matches 'nothing/'"),
        (["--convert", "nothing/*"], "--convert 'nothing/*': no URL pattern matches"),
    ],
)
def test_bad_capacity_flags_exit_2_with_one_line(args, reason):
    status, out, err = manage("--no-samples", *args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert reason in err
    assert out == ""


@pytest.mark.django_db
def test_stored_samples_give_the_average_and_peak_arrival_rates(settings, capsys):
    from django.utils import timezone

    from async_audit.models import Sample
    from tests.command.samples import sample_trace

    settings.ROOT_URLCONF = "tests.command.project"
    now = timezone.now()
    # At a 10 % sample rate: 5 samples in the first minute, 1 more two minutes later:
    # 60 requests over the 3 clock minutes spanned = 0.33 req/s on average, 50 in the
    # busiest minute = 0.83 req/s (1_700_000_040 starts a clock minute).
    for at in (0, 10, 20, 30, 40, 150):
        data = {**sample_trace(150.0), "sample_rate": 0.1, "started_at": 1_700_000_040.0 + at,
                "host": "web-1", "pid": 41}  # fmt: skip
        Sample.objects.create(created=now, route="fanout/", view=data["view"], wall_ms=150,
                              data=data)  # fmt: skip
    call_command("async_audit", "--format", "json", "--route", "fanout/")
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    cap = report["capacity"]
    (route,) = cap["routes"]
    assert route["rate_source"] == "samples" and route["samples"] == 6
    assert route["rate_avg"] == pytest.approx(60 / 180, abs=1e-3) and route[
        "rate_peak"
    ] == pytest.approx(50 / 60, abs=1e-3)
    assert cap["rates"] == {"samples_used": 6, "samples_unusable": 0, "window_s": 180.0,
                            "interval_s": 60.0}  # fmt: skip
    assert route["converted"] is True
    # --traffic overrides what samples say.
    call_command("async_audit", "--format", "json", "--route", "fanout/", "--traffic", "fanout/=7")
    (route,) = json.loads(capsys.readouterr().out)["capacity"]["routes"]
    assert route["rate_avg"] == route["rate_peak"] == 7.0


@pytest.mark.django_db
def test_arrival_rates_count_every_stored_sample_not_only_those_kept_for_the_verdicts(
    settings, capsys
):
    from django.utils import timezone

    from async_audit.models import Sample
    from async_audit.sampling.aggregate import EVIDENCE_PER_ROUTE, PER_ROUTE
    from tests.command.samples import sample_trace

    settings.ROOT_URLCONF = "tests.command.project"
    n = PER_ROUTE + EVIDENCE_PER_ROUTE + 150  # more than the reservoir keeps for one route
    now = timezone.now()
    base = sample_trace(150.0)
    Sample.objects.bulk_create(
        Sample(created=now, route="fanout/", view=base["view"], wall_ms=150,
               data={**base, "sample_rate": 1.0, "started_at": 1_700_000_040.0 + i * 30.0 / n})
        for i in range(n)
    )  # fmt: skip
    call_command("async_audit", "--format", "json", "--route", "fanout/")
    report = json.loads(capsys.readouterr().out)
    (route,) = report["capacity"]["routes"]
    assert report["capacity"]["rates"]["samples_used"] == n
    assert route["rate_peak"] == pytest.approx(n / 60, abs=1e-3)
