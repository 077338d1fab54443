"""The drift report is total over any log (issue 21): empty buckets, one model, one group,
no quality, no rewards, identical values. ``_report`` is the whole computation after the read;
it returns a report or refuses with a sentence, never another exception (a 500)."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from api.http import schemas
from api.service.drift import DriftQuery, _Read, _report, _Row
from bandit.settings import ExplorationSettings

values = st.one_of(st.none(), st.floats(0.0, 1.0))


@st.composite
def reads(draw: st.DrawFn) -> _Read:
    read = _Read(origin=0.0)
    for i in range(draw(st.integers(0, 60))):
        bucket = draw(st.integers(0, 4))
        read.rows.append(
            _Row(
                id=f"d{i}",
                bucket=bucket,
                model=draw(st.sampled_from(["a", "b"])),
                version=draw(st.integers(0, 3)),
                group=draw(st.sampled_from(["(none)", "code", "chat"])),
                reward=draw(st.one_of(st.none(), st.floats(-10.0, 10.0))),
                quality=draw(values),
                cost=draw(st.one_of(st.none(), st.floats(0.0, 1.0))),
                latency=draw(st.one_of(st.none(), st.floats(0.0, 1e5))),
                fallback=draw(st.booleans()),
                feedback_delay=draw(st.one_of(st.none(), st.floats(0.0, 100.0))),
            )
        )
        features = draw(st.sets(st.sampled_from(["caller^task=code", "words^ab", "size^s"])))
        read.features.setdefault(bucket, Counter()).update(features)
    for row in read.rows:
        read.features.setdefault(row.bucket, Counter())
    return read


@settings(max_examples=200, deadline=None, derandomize=True)
@given(read=reads(), group_by=st.sampled_from([None, "task"]))
def test_the_drift_report_is_total_over_any_log(read: _Read, group_by: str | None) -> None:
    with warnings.catch_warnings():
        # scipy warns on nearly identical samples; the report stays defined.
        warnings.simplefilter("ignore", RuntimeWarning)
        report = _report(
            "p",
            DriftQuery(bucket_seconds=60.0, group_by=group_by),
            read,
            1,
            ExplorationSettings(),
            [],
        )
    assert report.decisions == len(read.rows)
    wire = msgspec.convert(report, schemas.DriftOut, from_attributes=True)
    encoded = msgspec.json.encode(wire)  # what the server would send: JSON, no NaN
    assert b"NaN" not in encoded
    assert all(math.isfinite(b.start) for b in report.buckets)
