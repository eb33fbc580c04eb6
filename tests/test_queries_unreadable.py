"""One unreadable snapshot file leaves its own period out of a range's read, never the range
(contract §4): historical rows, stage and organization totals, in Python, on the command line
and from the HTTP API. Expected numbers are counted from the literal events landed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import event, run_main
from fastapi.testclient import TestClient

from voice_monitor.integrity import known_unreadable
from voice_monitor.landing import land_records
from voice_monitor.queries import (
    PeriodsNotBuiltWarning,
    SnapshotFilesUnreadableWarning,
    historical_metrics,
    org_breakdown,
    stage_breakdown,
)
from voice_monitor.rollups import run_hourly
from voice_monitor.server import create_app

DAY = datetime(2026, 2, 16, tzinfo=UTC)
NOW = DAY + timedelta(hours=6)
STAFF = "staff-0123456789abcdef"


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def damaged(lake):
    """Hours 1, 2, 3: org-a receives 1, 2, 3 artifacts and transcribes each once; hour 2's
    pipeline and stage snapshot files are then overwritten with garbage."""
    events = []
    for hour in (1, 2, 3):
        for i in range(hour):
            art = f"art-{hour}-{i}"
            events += [event("artifact_received", at(hour, i), artifact_id=art,
                             organization_id="org-a"),
                       event("transcription_completed", at(hour, 10 + i), artifact_id=art,
                             organization_id="org-a", duration_ms=1000)]
    land_records(lake, events, now=NOW)
    for hour in (1, 2, 3):
        run_hourly(lake, hour=at(hour), now=NOW)
    bad = []
    for table in ("pipeline_hourly", "stage_hourly"):
        (path,) = lake.snapshot_partition(table, at(2)).glob("*.parquet")
        path.write_bytes(b"not a parquet file")
        bad.append(path.relative_to(lake.root).as_posix())
    return lake, bad


def test_python_reads_read_around_the_unreadable_hour_and_warn_naming_it(damaged):
    lake, (pipeline, stage) = damaged
    with pytest.warns(SnapshotFilesUnreadableWarning, match=f"{pipeline}.*--move-aside") as said:
        rows = historical_metrics(lake, at(1), at(4))
    assert rows["artifacts_received"].to_list() == [1, 0, 3]  # hour 2: read as not built
    assert rows["computed_at"].is_null().to_list() == [False, True, False]
    (warning,) = [w.message for w in said if w.category is SnapshotFilesUnreadableWarning]
    assert warning.periods == [at(2)] and warning.files[0][0] == pipeline

    with pytest.warns(SnapshotFilesUnreadableWarning, match=stage):
        stages = stage_breakdown(lake, at(1), at(4))
    (transcription,) = stages.filter(stages["pipeline_stage"] == "transcription").to_dicts()
    assert transcription["succeeded"] == 1 + 3

    # the totals leave the hour out and say so twice: why (the file) and that it is left out
    with pytest.warns(SnapshotFilesUnreadableWarning, match=pipeline), \
            pytest.warns(PeriodsNotBuiltWarning):
        orgs = org_breakdown(lake, at(1), at(4))
    assert orgs.select("organization_id", "artifacts_received").rows() == [("org-a", 1 + 3)]
    frame, (_, _, _, missing) = org_breakdown.with_gaps(lake, at(1), at(4))
    assert missing == [at(2)]
    # recorded for the lake_file_unreadable alert
    assert {pipeline, stage} <= {rel for rel, _ in known_unreadable(lake)}


def test_the_cli_prints_the_other_hours_and_one_warning_naming_the_file(damaged, capsys):
    lake, (pipeline, stage) = damaged
    span = ["--start", "2026-02-16T01:00Z", "--end", "2026-02-16T04:00Z",
            "--now", "2026-02-16T06:00:00Z", "--lake", str(lake.root)]
    code, out, err = run_main(capsys, "metrics", "historical", "--json", *span)
    assert code == 0, err
    assert [r["artifacts_received"] for r in json.loads(out)] == [1, 0, 3]
    (line,) = err.splitlines()
    assert line.startswith("voice-monitor: warning: historical_metrics: 1 hour(s) "
                           "(2026-02-16T02:00:00Z) read as having no snapshot: unreadable lake "
                           f"file {pipeline} (")
    assert line.endswith(f"move it aside with: voice-monitor lake check --move-aside --lake "
                         f"{lake.root}, then build the hour(s) again with: voice-monitor backfill "
                         f"--start 2026-02-16T02:00:00Z --end 2026-02-16T03:00:00Z "
                         f"--lake {lake.root}")

    code, out, err = run_main(capsys, "metrics", "historical", *span)
    assert code == 0 and "unreadable" in out and "not built" not in out, out

    code, out, err = run_main(capsys, "metrics", "orgs", "--json", *span)
    assert code == 0, err
    assert [(r["organization_id"], r["artifacts_received"]) for r in json.loads(out)] == [
        ("org-a", 4)]
    (line,) = err.splitlines()  # the hour is named once, with its file
    assert pipeline in line and "--move-aside" in line

    code, out, err = run_main(capsys, "metrics", "stages", *span)
    assert code == 0 and stage in err and len(err.splitlines()) == 1, err


def test_the_api_answers_with_the_other_hours(damaged):
    lake, _ = damaged
    app = create_app(lake, ingest_tokens=[], staff_tokens=[STAFF])
    query = {"start": "2026-02-16T01:00:00Z", "end": "2026-02-16T04:00:00Z",
             "now": "2026-02-16T06:00:00Z"}
    with TestClient(app) as http:
        headers = {"Authorization": f"Bearer {STAFF}"}
        answer = http.get("/api/v1/metrics/historical", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        assert [r["artifacts_received"] for r in answer.json()["rows"]] == [1, 0, 3]
        answer = http.get("/api/v1/metrics/orgs", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["rows"][0]["artifacts_received"] == 4
        assert answer.json()["not_built"] == ["2026-02-16T02:00:00Z"]


def test_the_api_and_the_charts_say_which_file_they_read_around_and_the_fix(damaged):
    # the answers left the hour out without a word: only the server's stderr had the warning
    lake, (pipeline, stage) = damaged
    app = create_app(lake, ingest_tokens=[], staff_tokens=[STAFF])
    query = {"start": "2026-02-16T01:00:00Z", "end": "2026-02-16T04:00:00Z",
             "now": "2026-02-16T06:00:00Z"}
    fix = (f"move it aside with: voice-monitor lake check --move-aside --lake {lake.root}, then "
           "build the hour(s) again with: voice-monitor backfill --start 2026-02-16T02:00:00Z "
           f"--end 2026-02-16T03:00:00Z --lake {lake.root}")
    headers = {"Authorization": f"Bearer {STAFF}"}
    with TestClient(app) as http:
        for path, params, query_name, bad in (
                ("metrics/historical", query, "historical_metrics", pipeline),
                ("metrics/stages", query, "stage_breakdown", stage),
                ("metrics/orgs", query, "org_breakdown", pipeline),
                ("charts/throughput", {"now": query["now"], "hours": 6}, "historical_metrics",
                 pipeline),
                ("charts/stage_latency", {"now": query["now"], "hours": 6}, "stage_history",
                 stage),
                ("charts/cost_by_organization", {"now": query["now"], "hours": 6},
                 "org_breakdown", pipeline)):
            answer = http.get(f"/api/v1/{path}", params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            said = answer.json()["snapshots_unreadable"]
            assert (said["files"], said["periods"]) == ([bad], ["2026-02-16T02:00:00Z"]), path
            assert said["message"].startswith(
                f"{query_name}: 1 hour(s) (2026-02-16T02:00:00Z) read as having no snapshot: "
                f"unreadable lake file {bad} ("), path
            assert said["message"].endswith(fix), path
        (lake.root / pipeline).unlink()  # moved aside: nothing is said (the hour is not built)
        (lake.root / stage).unlink()
        for path in ("metrics/historical", "metrics/stages"):
            answer = http.get(f"/api/v1/{path}", params=query, headers=headers).json()
            assert "snapshots_unreadable" not in answer, path


def _stage_file_beside(lake, folder):
    (stage,) = lake.snapshot_partition("stage_hourly", at(2)).glob("*.parquet")
    (folder / "part-1.parquet").write_bytes(stage.read_bytes())
    return folder / "part-1.parquet", "not a pipeline_hourly file: no column event_count"


def _stage_file_instead(lake, folder):
    (stage,) = lake.snapshot_partition("stage_hourly", at(2)).glob("*.parquet")
    (mine,) = folder.glob("*.parquet")
    mine.write_bytes(stage.read_bytes())
    return mine, "not a pipeline_hourly file: no column event_count"


def _no_snapshot_columns(lake, folder):
    (mine,) = folder.glob("*.parquet")
    pq.write_table(pa.table({"x": [1]}), mine)
    return mine, "not a pipeline_hourly file: no column period_type, period_start"


def _period_start_as_text(lake, folder):
    (mine,) = folder.glob("*.parquet")
    table = pq.read_table(mine)
    index = table.schema.get_field_index("period_start")
    pq.write_table(table.set_column(index, "period_start",
                                    table.column(index).cast(pa.string())), mine)
    return mine, "not a pipeline_hourly file: column period_start is string"


def _another_hours_file(lake, folder):
    (third,) = lake.snapshot_partition("pipeline_hourly", at(3)).glob("*.parquet")
    (folder / "part-1.parquet").write_bytes(third.read_bytes())
    return (folder / "part-1.parquet",
            "not a file of its partition: it holds rows of the period 2026-02-16T03:00:00Z, "
            "not 2026-02-16T02:00:00Z")


def _built_with_hour_2_damaged(lake, damage, **fields) -> tuple:
    """Hours 1, 2 and 3 with 1, 2 and 3 artifacts received (`fields` on each event), each
    built; then hour 2's pipeline_hourly file damaged by `damage`: (that file, why it cannot be
    read, its name in the lake)."""
    for hour in (1, 2, 3):
        land_records(lake, [event("artifact_received", at(hour, i), **fields)
                            for i in range(hour)], now=NOW)
        run_hourly(lake, hour=at(hour), now=NOW)
    bad, why = damage(lake, lake.snapshot_partition("pipeline_hourly", at(2)))
    return bad, why, bad.relative_to(lake.root).as_posix()


@pytest.mark.parametrize("damage", [_stage_file_beside, _stage_file_instead, _no_snapshot_columns,
                                    _period_start_as_text, _another_hours_file])
def test_a_file_that_reads_but_is_not_its_partitions_is_read_around_naming_it(lake, damage):
    """Files that read as Parquet but hold no rows of their partition: a stage file in
    pipeline_hourly/ (read as pipeline rows: hour 2 came out as 5 rows, 4 of them zeros), a file
    of no snapshot columns (the hour silently missing from the totals, no note), a column of
    another type alone in the range (a BinderException failed it whole), a copy of hour 3's
    file (counted twice). Each is now its hour read as unreadable, naming the file."""
    bad, why, rel = _built_with_hour_2_damaged(lake, damage, organization_id="org-a")

    with pytest.warns(SnapshotFilesUnreadableWarning, match=re.escape(f"{rel} ({why}")):
        rows = historical_metrics(lake, at(1), at(4))
    assert rows["artifacts_received"].to_list() == [1, 0, 3]
    assert rows["computed_at"].is_null().to_list() == [False, True, False]
    with pytest.warns(SnapshotFilesUnreadableWarning, match=re.escape(rel)):
        alone = historical_metrics(lake, at(2), at(3))  # the file alone in the range
    assert alone["computed_at"].is_null().to_list() == [True]
    with pytest.warns(SnapshotFilesUnreadableWarning, match=re.escape(rel)):
        frame, (_, _, _, missing) = org_breakdown.with_gaps(lake, at(1), at(4))
    assert frame.select("organization_id", "artifacts_received").rows() == [("org-a", 1 + 3)]
    assert missing == [at(2)]
    # lake check lists it with the same reason (and would move it aside)
    assert (rel, why) in [(r, w[:len(why)]) for r, w in known_unreadable(lake)]


@pytest.mark.parametrize("damage", [_stage_file_beside, _no_snapshot_columns,
                                    _period_start_as_text, _another_hours_file])
def test_sql_and_the_daily_rollup_name_a_file_that_is_not_its_partitions(lake, damage):
    """`sql` over pipeline_hourly read such a file as rows (hour 2 as 5 platform rows; hour 3
    twice) and the daily rollup summed them into the day: the SQL view of its table now fails
    naming it (the other tables answer), and so does the day's rollup."""
    from voice_monitor.adhoc import run_query
    from voice_monitor.integrity import UnreadableFileError
    from voice_monitor.rollups import RollupFailedError, run_daily

    bad, why, rel = _built_with_hour_2_damaged(lake, damage)
    with pytest.raises(UnreadableFileError, match=re.escape(f"{rel} ({why}")):
        run_query(lake, "select count(*) from pipeline_hourly")
    assert run_query(lake, "select count(*) from stage_hourly").rows == [(3 * 4,)]
    with pytest.raises(RollupFailedError, match=re.escape(rel)) as failed:
        run_daily(lake, now=DAY + timedelta(days=1, hours=2), day=DAY)
    assert failed.value.report.periods == []
    assert not lake.snapshot_periods("pipeline_daily")


def _garbage(lake, folder):
    (mine,) = folder.glob("*.parquet")
    mine.write_bytes(b"not a parquet file")
    return mine, "ArrowInvalid: Parquet magic bytes not found"


@pytest.mark.parametrize("damage", [_period_start_as_text, _stage_file_instead, _garbage])
def test_the_catalog_is_written_its_damaged_tables_view_failing_naming_the_file(
        lake, tmp_path, capsys, damage):
    """One unreadable snapshot file (a period_start of text, another table's file, garbage)
    stopped `voice-monitor catalog` whole (exit 1, no catalog), where `sql` fails only its
    table's view (contract §4): the catalog is now written, its view of that table failing
    naming the file and how to clear it, every other view answering."""
    import duckdb

    bad, why, rel = _built_with_hour_2_damaged(lake, damage)
    target = tmp_path / "catalog.duckdb"
    again = f"then write the catalog again: voice-monitor catalog {target} --lake {lake.root}"

    code, out, err = run_main(capsys, "catalog", str(target), "--lake", str(lake.root))
    assert code == 0, err
    assert out.startswith(f"wrote {target} with views: ")
    (line,) = err.splitlines()
    assert line.startswith(f"voice-monitor: warning: the catalog's pipeline_hourly view fails "
                           f"when read: unreadable lake file {rel} ({why}")
    assert line.endswith(f"move it aside with: voice-monitor lake check --move-aside --lake "
                         f"{lake.root}, {again}")
    con = duckdb.connect(str(target), read_only=True)
    assert con.sql("select count(*) from events").fetchall() == [(1 + 2 + 3,)]
    # 3 hours of 4 platform stage rows each (the stage file copied was read, not moved)
    assert con.sql("select count(*) from stage_hourly").fetchall() == [(3 * 4,)]
    assert con.sql("select count(*) from organizations").fetchall() == [(0,)]
    with pytest.raises(duckdb.Error, match=re.escape(f"{bad}' ({why}")) as failed:
        con.sql("select count(*) from pipeline_hourly").fetchall()
    assert str(failed.value).endswith(again)
    con.close()

    from voice_monitor.views import CatalogViewsUnreadableWarning, write_catalog

    with pytest.warns(CatalogViewsUnreadableWarning, match=re.escape(rel)):  # Python too
        write_catalog(lake, tmp_path / "again.duckdb")
    # recorded for the lake_file_unreadable alert, as any read that meets it
    assert rel in {r for r, _ in known_unreadable(lake)}
