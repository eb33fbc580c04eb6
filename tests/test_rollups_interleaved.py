"""Random interleavings of landing (late events included), hourly, daily and retention runs,
with `now` advancing: every surviving snapshot equals a rebuild from scratch, computed by an
independent plain-Python model over the events the lake held when the snapshot was built.

What is checked after every step (the model mirrors the lake's event partitions and applies
the retention rules of contract §7 itself):

* an automatic hourly run never builds an hour whose hourly snapshot retention dropped or that
  starts before the hourly-snapshot cut-off, nor one whose events retention dropped;
* after an automatic hourly run, every hourly snapshot of an hour whose events and look-back
  hours are all retained equals the model over the events there now (nothing stale);
* every hour a run built (hourly, or first by a daily run) equals the model at that moment;
  every surviving hourly snapshot still equals what it was when built;
* a daily snapshot is built only from all 24 hourly snapshots, and equals their sum;
  a refused day has a missing hour that cannot be built, and retention removing old hourly
  rows alone never gets a day refused.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import ts
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from voice_monitor.lake import Lake, floor_day, floor_hour
from voice_monitor.landing import land_records
from voice_monitor.retention import RetentionConfig, run_retention
from voice_monitor.rollups import run_daily, run_hourly

H = timedelta(hours=1)
DAY = timedelta(days=1)
T0 = datetime(2026, 2, 10, 6, 0, tzinfo=UTC)
# the shortest retention the rollups allow, so that a short timeline sees it act
CONFIG = RetentionConfig(events=timedelta(hours=26), hourly_snapshots=timedelta(days=2))
LOOK_BACK = timedelta(hours=24)
TYPES = ["artifact_received", "artifact_completed", "transcription_started",
         "transcription_completed"]


# -- the independent model ---------------------------------------------------------------------
def latency(e: dict, present: list[dict]) -> float | None:
    """Contract §6 latency of a transcription success or an artifact_completed, or None."""
    if e.get("duration_ms") is not None:
        return float(e["duration_ms"])
    if e["type"] == "transcription_completed":
        starts = [s["at"] for s in present if s["type"] == "transcription_started"
                  and s["artifact"] == e["artifact"] and e["at"] - LOOK_BACK <= s["at"] <= e["at"]]
        return (e["at"] - max(starts)) / timedelta(milliseconds=1) if starts else None
    got = [r["at"] for r in present if r["type"] == "artifact_received"
           and r["artifact"] == e["artifact"] and e["at"] - LOOK_BACK <= r["at"] <= e["at"]]
    return (e["at"] - min(got)) / timedelta(milliseconds=1) if got else None


def model_hour(hour: datetime, present: list[dict]) -> tuple:
    """Platform figures of one hour: counts, and latency counts and sums (rounded)."""
    mine = [e for e in present if hour <= e["at"] < hour + H]
    e2e = [x for e in mine if e["type"] == "artifact_completed"
           for x in [latency(e, present)] if x is not None]
    stage = [x for e in mine if e["type"] == "transcription_completed"
             for x in [latency(e, present)] if x is not None]
    count = defaultdict(int)
    for e in mine:
        count[e["type"]] += 1
    return (len(mine), count["artifact_received"], count["artifact_completed"], len(e2e),
            round(sum(e2e), 3), count["transcription_started"],
            count["transcription_completed"], len(stage), round(sum(stage), 3),
            sum(1 for e in mine if e["org"] == "o1"))


def read_period(lake: Lake, kind: str, period: datetime) -> tuple | None:
    """The same figures as the model, read from a snapshot partition (None if absent)."""
    pipe_dir = lake.snapshot_partition(f"pipeline_{kind}", period)
    if not pipe_dir.is_dir() or not any(pipe_dir.glob("*.parquet")):
        return None
    pipe = pl.read_parquet(pipe_dir)
    stage = pl.read_parquet(lake.snapshot_partition(f"stage_{kind}", period))
    p = pipe.filter(pl.col("organization_id").is_null()).row(0, named=True)
    s = stage.filter(pl.col("organization_id").is_null()
                     & (pl.col("pipeline_stage") == "transcription")).row(0, named=True)
    o1 = pipe.filter(pl.col("organization_id") == "o1")
    return (p["event_count"], p["artifacts_received"], p["artifacts_completed"],
            p["e2e_latency_count"], round(p["e2e_latency_avg_ms"] * p["e2e_latency_count"], 3),
            s["started"], s["succeeded"], s["latency_count"],
            round(s["latency_avg_ms"] * s["latency_count"], 3),
            o1["event_count"][0] if o1.height else 0)


def snapshot_files(lake: Lake, kind: str, period: datetime) -> tuple:
    """Every file of a period's pipeline and stage snapshot partitions, with its inode, size and
    mtime: the same tuple later means no file was added, removed or written in between."""
    found = []
    for table in (f"pipeline_{kind}", f"stage_{kind}"):
        folder = lake.snapshot_partition(table, period)
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            st = path.stat()
            found.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(found)


class World:
    """The lake, and the model's own account of what it holds and what retention dropped."""

    def __init__(self, lake: Lake):
        self.lake, self.now = lake, T0
        self.present: list[dict] = []        # events in the lake's event partitions now
        self.dropped_events: set[datetime] = set()
        self.dropped_snapshots: set[datetime] = set()
        self.hourly: dict[datetime, tuple] = {}   # hour -> figures it was built with
        self.daily: dict[datetime, tuple] = {}
        self.serial = 0
        self.touched: set[datetime] = set()  # days with an hour rebuilt since their daily
        self.checked: dict[tuple, tuple] = {}  # (kind, period) -> (its files, figures read)

    def land(self, specs) -> None:
        records = []
        for etype, minutes_ago, artifact, org, duration in specs:
            at = self.now - timedelta(minutes=minutes_ago)
            self.serial += 1
            e = {"id": f"e{self.serial}", "type": etype, "at": at, "artifact": artifact,
                 "org": org, "duration_ms": duration}
            self.present.append(e)
            record = {"event_id": e["id"], "event_type": etype, "timestamp": ts(at),
                      "artifact_id": artifact}
            if org:
                record["organization_id"] = org
            if duration is not None:
                record["duration_ms"] = duration
            records.append(record)
        assert land_records(self.lake, records, now=self.now).accepted == len(records)

    def verify_built(self, hours) -> None:
        for h in hours:
            assert h not in self.dropped_events, f"{h} built from dropped events"
            expected = model_hour(h, self.present)
            assert read_period(self.lake, "hourly", h) == expected, h
            self.hourly[h] = expected
            self.touched.add(floor_day(h))

    def hourly_run(self) -> None:
        report = run_hourly(self.lake, self.now, retention=CONFIG)
        if report.refused:
            event("hourly refused an hour")
        if self.dropped_snapshots and any(floor_hour(e["at"]) in self.dropped_snapshots
                                          for e in self.present):
            event("events retained for an hour whose snapshot was dropped")
        cutoff = self.now - CONFIG.hourly_snapshots
        for h in report.periods:
            assert h >= cutoff and h not in self.dropped_snapshots, f"{h} rebuilt after retention"
        self.verify_built(report.periods)
        # nothing stale: every snapshot of an hour whose sources are all retained is current
        previous = floor_hour(self.now) - H

        def buildable(h: datetime) -> bool:  # the hour and the 24 it may pair with retained
            return (cutoff <= h <= previous and h not in self.dropped_snapshots
                    and not {h - k * H for k in range(25)} & self.dropped_events)

        for h in list(self.hourly):
            if buildable(h):
                assert self.hourly[h] == model_hour(h, self.present), f"{h} is stale"
        for h in {floor_hour(e["at"]) for e in self.present}:
            if buildable(h):
                assert h in self.hourly, f"{h} has events and no snapshot"

    def daily_run(self) -> None:
        report = run_daily(self.lake, self.now)
        self.verify_built(report.hours)
        for day in report.periods:
            day_hours = [day + k * H for k in range(24)]
            assert all(h in self.hourly for h in day_hours), f"{day} built from a partial day"
            expected = tuple(round(sum(self.hourly[h][i] for h in day_hours), 3)
                             for i in range(10))
            got = read_period(self.lake, "daily", day)
            assert got[:4] + got[5:8] + got[9:] == expected[:4] + expected[5:8] + expected[9:]
            assert got[4] == pytest.approx(expected[4]) and got[8] == pytest.approx(expected[8])
            self.daily[day] = got
            self.touched.discard(day)
        if report.hours:
            event("daily built hours first")
        for day, _ in report.refused:
            event("daily refused a day")
            day_hours = [day + k * H for k in range(24)]
            lost = [h for h in day_hours if h not in self.hourly
                    and (h in self.dropped_snapshots or h in self.dropped_events
                         or {h - k * H for k in range(1, 25)} & self.dropped_events)]
            assert lost, f"{day} refused with every hour buildable"
            # retention removing old hourly rows is no change: a day is refused only if it is
            # the previous day, or has no daily yet, or one of its hours was rebuilt since
            previous_day = floor_day(self.now) - DAY
            assert day == previous_day or day not in self.daily or day in self.touched, day

    def retention(self, only: str) -> None:
        run_retention(self.lake, self.now, CONFIG, only=only)
        if only == "events":
            gone = {floor_hour(e["at"]) for e in self.present
                    if floor_hour(e["at"]) + H <= self.now - CONFIG.events}
            self.dropped_events |= gone
            if gone:
                event("event retention dropped hours")
            self.present = [e for e in self.present if floor_hour(e["at"]) not in gone]
        else:
            gone = {h for h in self.hourly if h < self.now - CONFIG.hourly_snapshots}
            self.dropped_snapshots |= gone
            if gone:
                event("snapshot retention dropped hours")
            for h in gone:
                del self.hourly[h]

    def check_surviving(self) -> None:
        on_disk = set(self.lake.snapshot_periods("pipeline_hourly"))
        assert on_disk == set(self.hourly)
        for kind, built in (("hourly", self.hourly), ("daily", self.daily)):
            for period, expected in built.items():
                # a snapshot whose files are the very ones read at the last check (same names,
                # inodes, sizes, mtimes) holds what was read then; any other is read again
                files = snapshot_files(self.lake, kind, period)
                if self.checked.get((kind, period)) != (files, expected):
                    assert read_period(self.lake, kind, period) == expected, (kind, period)
                    self.checked[(kind, period)] = (files, expected)


events = st.tuples(st.sampled_from(TYPES),
                   st.one_of(st.integers(0, 180), st.integers(0, 60 * 60)),  # late: up to 60 h
                   st.sampled_from(["a1", "a2"]), st.sampled_from([None, "o1"]),
                   st.sampled_from([None, None, 250]))
# a round: `now` advances, then some of landing, the hourly and daily runs and the two
# retention runs happen, in any order
rounds = st.lists(st.tuples(
    st.integers(0, 30),
    st.lists(events, min_size=1, max_size=3),
    st.permutations(["land", "hourly", "daily", "events", "snapshots"]).flatmap(
        lambda order: st.integers(1, 5).map(lambda k: order[:k])),
), min_size=2, max_size=7)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=rounds)
def test_interleaved_runs_keep_snapshots_equal_to_a_rebuild(tmp_path_factory, plan):
    world = World(Lake(tmp_path_factory.mktemp("interleaved") / "lake"))
    world.land([("artifact_received", 0, "a1", None, None)])
    for hours, specs, order in plan + [(1, [], ["hourly", "daily"])]:
        world.now += hours * H
        for step in order:
            if step == "land":
                world.land(specs)
            elif step == "hourly":
                world.hourly_run()
            elif step == "daily":
                world.daily_run()
            else:
                world.retention(step)
            world.check_surviving()
