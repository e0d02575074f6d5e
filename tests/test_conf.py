"""The capacity plan's ASYNC_AUDIT keys: validated, documented, and read by the plan."""

from __future__ import annotations

import pytest

from async_audit import conf
from async_audit.verdicts.capacity import CapacityOptions, Objective


@pytest.mark.parametrize(
    ("key", "value"),
    [("CAPACITY_PERCENTILE", 1.0), ("CAPACITY_PERCENTILE", 0), ("CAPACITY_WAIT_MS", -1),
     ("CAPACITY_MAX_LOOP_LOAD", 0.0), ("CAPACITY_THREADS", 0), ("CAPACITY_PEAK_INTERVAL_S", 0)],
)  # fmt: skip
def test_a_bad_capacity_setting_is_an_e002_naming_the_key(key, value):
    ((check, message),) = conf.validate({key: value})
    assert check == "async_audit.E002" and key in message and "capacity plan" in message


def test_the_plan_reads_its_objective_from_settings(settings):
    settings.ASYNC_AUDIT = {"CAPACITY_WAIT_MS": 20, "CAPACITY_PERCENTILE": 0.99,
                            "CAPACITY_THREADS": 4, "CAPACITY_PEAK_INTERVAL_S": 300}  # fmt: skip
    options = CapacityOptions.from_settings(traffic=[("a/", 1.0)])
    assert options.objective == Objective(wait_ms=20.0, percentile=0.99, max_loop_load=0.6,
                                          threads_per_process=4)  # fmt: skip
    assert options.interval_s == 300.0 and options.traffic == [("a/", 1.0)]
    assert conf.validate(settings.ASYNC_AUDIT) == []


@pytest.mark.parametrize("rate", [1e-12, 5e-7, -0.1, 1.5, True])
def test_a_sample_rate_below_one_in_a_million_or_outside_0_1_is_an_e002(rate):
    ((check, message),) = conf.validate({"SAMPLE_RATE": rate})
    assert check == "async_audit.E002" and "SAMPLE_RATE" in message


@pytest.mark.parametrize("rate", [0, 0.0, 1e-6, 0.01, 1])
def test_rates_from_zero_and_one_in_a_million_to_one_are_fine(rate):
    assert conf.validate({"SAMPLE_RATE": rate}) == []
