from __future__ import annotations

from async_audit import conf


def test_a_file_sink_without_a_path_is_reported_by_check():
    (problem,) = conf.validate({"SAMPLE_SINK": "file"})
    assert problem[0] == "async_audit.E002" and "SAMPLE_FILE" in problem[1]
    assert conf.validate({"SAMPLE_SINK": "file", "SAMPLE_FILE": "/tmp/s.jsonl"}) == []


def test_a_sampler_that_cannot_be_imported_is_reported_by_check():
    (problem,) = conf.validate({"SAMPLER": "myproject.sampling.nope"})
    assert problem[0] == "async_audit.E002" and "cannot be imported" in problem[1]
    assert conf.validate({"SAMPLER": "random.random"}) == []


def test_bad_sampling_values_are_reported_by_check():
    bad = {
        "SAMPLE_EXCLUDE_ROUTES": "health/",  # a string, not a list of globs
        "SAMPLE_QUEUE_SIZE": 0,
        "SAMPLE_FLUSH_SECONDS": -1,
        "SAMPLE_FORCE_HEADER": "yes",
    }
    problems = conf.validate(bad)
    assert len(problems) == 4 and all(p[0] == "async_audit.E002" for p in problems)
