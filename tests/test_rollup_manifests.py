"""A damaged rollup manifest (`state/rollups/…/*.json`) only makes its period build again.

A manifest records what a snapshot was built from; one that is not UTF-8, not JSON or not the
shape the rollup writes (a bad copy, a crash of an older version, a hand edit) failed every
rollup of the lake, naming nothing: "'utf-8' codec can't decode byte 0xff in position 0".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
from conftest import event, run_main

from voice_monitor.landing import land_records


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


def received(lake, table: str) -> dict[datetime, int]:
    """Platform artifacts_received per period, read from the snapshot files."""
    rows = pl.read_parquet(str(lake.root / "snapshots" / table / "**" / "*.parquet"),
                           hive_partitioning=False)
    rows = rows.filter(pl.col("organization_id").is_null())
    return {r["period_start"]: r["artifacts_received"] for r in rows.iter_rows(named=True)}


def test_a_damaged_manifest_rebuilds_its_period_and_every_other_period_builds(capsys, lake):
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    land_records(lake, [event("artifact_received", at(12, 10)), event("artifact_received", at(12, 20)),
                        event("artifact_received", at(13, 5))], now=now)
    lakearg = ("--lake", str(lake.root))
    code, _, err = run_main(capsys, "rollup", "hourly", "--now", "2026-02-16T14:30:00Z", *lakearg)
    assert code == 0, err

    hourly = lake.root / "state" / "rollups" / "hourly"
    (hourly / "2026-02-16T12.json").write_bytes(b"\xff not even text")
    (hourly / "2026-02-16T13.json").write_text("[1, 2]")
    land_records(lake, [event("artifact_received", at(12, 40))], now=now)  # late, into hour 12
    code, out, err = run_main(capsys, "rollup", "hourly", "--now", "2026-02-16T14:30:00Z", *lakearg)
    assert code == 0, err
    assert out.startswith("built 2 hour(s): 2026-02-16T12:00Z, 2026-02-16T13:00Z"), out
    assert received(lake, "pipeline_hourly") == {at(12, 0): 3, at(13, 0): 1}
    assert "sources" in json.loads((hourly / "2026-02-16T12.json").read_text())  # written anew

    late = "2026-02-17T02:00:00Z"
    assert run_main(capsys, "rollup", "daily", "--now", late, *lakearg)[0] == 0
    daily = lake.root / "state" / "rollups" / "daily" / "2026-02-16.json"
    daily.write_text('{"sources": {"not a time": 1}}')
    land_records(lake, [event("artifact_received", at(13, 30))], now=now)
    for kind in ("hourly", "daily"):
        code, _, err = run_main(capsys, "rollup", kind, "--now", late, *lakearg)
        assert code == 0, err
    assert received(lake, "pipeline_daily") == {datetime(2026, 2, 16, tzinfo=UTC): 5}


def test_a_folder_in_place_of_a_manifest_is_named_with_the_fix(capsys, lake):
    # it failed every rollup with a bare "[Errno 21] Is a directory" (no manifest can be
    # written there either, so it cannot count as none); the way out given works
    now = "2026-02-16T14:30:00Z"
    land_records(lake, [event("artifact_received", at(12, 10))], now=at(14, 30))
    manifest = lake.root / "state" / "rollups" / "hourly" / "2026-02-16T12.json"
    manifest.mkdir(parents=True)
    code, _, err = run_main(capsys, "rollup", "hourly", "--now", now, "--lake", str(lake.root))
    assert code == 1
    assert err == (f"voice-monitor: error: lake file '{manifest}' is a folder, not a file; move it "
                   f"out of the lake (mv {manifest} {manifest}.moved) and run the command again\n")
    manifest.rename(f"{manifest}.moved")
    code, out, err = run_main(capsys, "rollup", "hourly", "--now", now, "--lake", str(lake.root))
    assert code == 0, err
    assert received(lake, "pipeline_hourly") == {at(12, 0): 1, at(13, 0): 0}


def test_a_manifest_written_with_plus_zero_keys_still_matches_its_unchanged_sources(lake):
    """A manifest keyed its hours '2026-02-15T10:00:00+00:00'; they are 'Z' now, as every time
    the lake writes. A manifest written before still matches what it was built from: its day
    is not built again as changed, and its hour's recorded later copies are still used."""
    from voice_monitor.rollup_plan import day_changed, describe, manifest_path, recorded_copies
    from voice_monitor.rollups import run_daily, run_hourly

    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    hour, day = datetime(2026, 2, 15, 10, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)
    land_records(lake, [event("artifact_received", hour.replace(minute=5))], now=now)
    run_hourly(lake, now, hour=hour)
    run_daily(lake, now, day=day.date())
    for path in (manifest_path(lake, "hourly", hour), manifest_path(lake, "daily", day)):
        written = json.loads(path.read_text())
        assert written["sources"] and all(k.endswith("Z") for k in written["sources"]), path
        old = {k.replace("Z", "+00:00"): v for k, v in written["sources"].items()}
        path.write_text(json.dumps({**written, "sources": old}))
    assert not day_changed(lake, day, set())
    assert recorded_copies(lake, hour, describe(lake.event_files(hour))) == {}
