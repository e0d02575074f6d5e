"""Every field the verdicts, timeline and renderers read is checked, with its type."""

from __future__ import annotations

import copy
import json

import pytest

from async_audit.trace.validate import validate_trace
from tests.command.samples import sample_trace


def _with(change):
    t = copy.deepcopy(sample_trace(150.0))
    t["events"].append({"kind": "blocking", "start_ms": 3.0, "end_ms": 4.0, "duration_ms": 1.0,
                        "call": "time.sleep", "category": "sleep", "site": ["/app/v.py", 3, "v"],
                        "stack": [["/app/v.py", 3, "v"]]})  # fmt: skip
    change(t)
    return t


def _set(path, value):
    def change(t):
        node = t
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


BAD = {
    "a string for a number": _set(["wall_ms"], "150"),
    "a list for summary": _set(["summary"], []),
    "a null hop target": _set(["events", 0, "target"], None),
    "a numeric route": _set(["route"], 5),
    "ten to the 400th": _set(["wall_ms"], 10**400),
    "NaN": _set(["events", 1, "duration_ms"], float("nan")),
    "Infinity": _set(["cpu_ms"], float("inf")),
    "a null host": _set(["events", 1, "host"], None),
    "a bool for a number": _set(["events", 1, "start_ms"], True),
    "an end before the start": _set(["events", 1, "end_ms"], -5.0),
    "a frame that is a string": _set(["events", 4, "site"], "views.py:3"),
    "a null hop_ms in summary": _set(["summary", "hop_ms"], None),
    "nested tags": _set(["tags"], {"x": {"y": 1}}),
    "events not a list": _set(["events"], {"0": {}}),
    "an event that is a number": _set(["events", 0], 7),
    "a blocking call with no name": lambda t: t["events"][4].pop("call"),
    # A stored sample's own fields.
    "a string arrival": _set(["started_at"], "yesterday"),
    "a rate of one in a trillion": _set(["sample_rate"], 1e-12),
    "a rate above one": _set(["sample_rate"], 2.0),
    "a string forced": _set(["forced"], "yes"),
    "a numeric method": _set(["method"], 1),
}


@pytest.mark.parametrize("rate", [0, 1e-6, 0.01, 1.0])  # 0: forced at rate 0
def test_a_samples_rate_in_force_may_be_zero_or_one_in_a_million_to_one(rate):
    assert validate_trace(_with(_set(["sample_rate"], rate))) is None


def test_a_good_trace_passes():
    assert validate_trace(_with(lambda t: None)) is None


@pytest.mark.parametrize("case", BAD)
def test_a_bad_trace_gets_a_one_line_reason(case):
    reason = validate_trace(_with(BAD[case]))
    assert reason is not None and "\n" not in reason, case


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/pairs/db/sync/", "/gathered-hops-async/", "/async-sleep/"])
def test_real_traces_pass(installed, path):
    from tests.helpers import run_traced_many

    (trace,) = run_traced_many(path, 1)
    assert validate_trace(json.loads(json.dumps(trace.to_dict()))) is None
