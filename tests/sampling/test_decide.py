from __future__ import annotations

import time

import pytest
from django.test import RequestFactory

from async_audit.sampling.decide import FORCE_META, Decider, force_token, token_valid

rf = RequestFactory()


def test_rate_zero_samples_nothing_and_rate_one_samples_everything():
    request = rf.get("/sync/")
    assert all(Decider(0.0).decide(request) is None for _ in range(500))
    assert all(Decider(1.0).decide(request) == (1.0, False) for _ in range(500))


def test_a_fractional_rate_samples_about_that_share():
    request = rf.get("/sync/")
    hits = sum(Decider(0.2).decide(request) is not None for _ in range(5000))
    assert 800 < hits < 1200


def test_excluded_routes_are_never_sampled_and_include_limits_to_matching_routes():
    d = Decider(1.0, exclude=["pairs/*"])
    assert d.decide(rf.get("/pairs/cpu/sync/")) is None
    assert d.decide(rf.get("/sync/")) is not None
    only = Decider(1.0, include=["pairs/*"])
    assert only.decide(rf.get("/pairs/cpu/sync/")) is not None
    assert only.decide(rf.get("/sync/")) is None
    assert only.decide(rf.get("/no/such/page/")) is None


def test_a_sampler_callable_decides_per_request_with_a_bool_or_a_rate():
    d = Decider(0.0, sampler=lambda r: r.path.startswith("/sync"))
    assert d.decide(rf.get("/sync/")) == (1.0, False)
    assert d.decide(rf.get("/async/")) is None
    rated = Decider(0.0, sampler=lambda r: 1.0)
    assert rated.decide(rf.get("/async/")) == (1.0, False)


def test_a_sampler_that_raises_or_answers_nonsense_samples_nothing_and_breaks_nothing(caplog):
    def broken(request):
        raise RuntimeError("boom")

    assert Decider(1.0, sampler=broken).decide(rf.get("/sync/")) is None
    assert Decider(1.0, sampler=lambda r: "yes").decide(rf.get("/sync/")) is None


def test_a_signed_token_forces_one_path_at_rate_zero():
    token = force_token("/sync/")
    d = Decider(0.0)
    assert d.decide(rf.get("/sync/", **{FORCE_META: token})) == (0.0, True)
    assert d.decide(rf.get("/async/", **{FORCE_META: token})) is None


def test_forged_expired_or_far_future_tokens_force_nothing():
    d = Decider(0.0)
    now = time.time()
    expired = force_token("/sync/", 60, now=now - 3600)
    forged = f"{int(now) + 60}:{'0' * 64}"
    far = int(now) + 10 * 24 * 3600
    for token in (expired, forged, f"{far}:abc", "garbage", ""):
        assert d.decide(rf.get("/sync/", **{FORCE_META: token})) is None
    assert not token_valid(expired, "/sync/")


def test_forcing_can_be_switched_off():
    token = force_token("/sync/")
    assert Decider(0.0, force=False).decide(rf.get("/sync/", **{FORCE_META: token})) is None


def test_a_token_cannot_be_made_for_longer_than_a_day():
    with pytest.raises(ValueError, match="1 to 86400 seconds"):
        force_token("/sync/", 2 * 24 * 3600)
