"""`metrics historical` as a table: a period with no snapshot yet is 'not built', not zeros.

The read fills such a period with zeros and a null computed_at (docs/queries.md); the table
showed the zeros alone, so an on-call engineer saw the last hour of a busy lake as 0 events,
0 received, 0 % failed: an outage, or all quiet, where the rollup had simply not run yet.
"""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import NOW, event, run_main

from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly

H, M = timedelta(hours=1), timedelta(minutes=1)
HOUR_12, HOUR_13 = NOW.replace(minute=0) - 2 * H, NOW.replace(minute=0) - H  # now is 14:30


def _lines(out: str, start: str) -> list[str]:
    return [line for line in out.splitlines() if start in line]


def test_a_period_not_built_reads_not_built_and_is_counted_below(lake, capsys):
    land_records(lake, [
        event("artifact_received", HOUR_12 + 5 * M, artifact_id="a1",
              organization_id="org-1"),
        event("artifact_received", HOUR_12 + 10 * M, artifact_id="a2"),
        event("artifact_received", HOUR_13 + 5 * M, artifact_id="a3"),
    ], now=NOW)
    run_hourly(lake, NOW, hour=HOUR_12)  # hour 13 has events but no snapshot yet
    root = ["--lake", str(lake.root), "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T14:00Z"]
    code, out, err = run_main(capsys, "metrics", "historical", *root)
    assert code == 0, err
    built, = _lines(out, "2026-02-16 12:00:00Z")
    assert [c.strip() for c in built.split("│")[2:4]] == ["2", "2"]  # 2 events, 2 received
    missing, = _lines(out, "2026-02-16 13:00:00Z")
    cells = [c.strip() for c in missing.split("│")[2:-1]]
    assert cells == ["not built"] + [""] * 7  # no 0 anywhere in the row
    assert ("1 hour(s) with no snapshot, shown as 'not built' rather than 0: an hour's snapshot is "
            "built at :30 after it ends ('voice-monitor rollup hourly' builds the ended ones of the "
            "last 7 days now, 'voice-monitor backfill --start T --end T' any range)"
            in out)
    # --json keeps the read's rows: zeros and computed_at null
    code, out, err = run_main(capsys, "metrics", "historical", *root, "--json")
    rows = json.loads(out)
    assert [(r["event_count"], r["computed_at"] is None) for r in rows] == [(2, False), (0, True)]
    # org-2 had no event in hour 12, which was built: zeros; hour 13 not built
    code, out, err = run_main(capsys, "metrics", "historical", *root, "--org", "org-2")
    assert code == 0, err
    quiet, = _lines(out, "2026-02-16 12:00:00Z")
    assert [c.strip() for c in quiet.split("│")[2:4]] == ["0", "0"]  # built, nothing happened
    assert [c.strip() for c in _lines(out, "2026-02-16 13:00:00Z")[0].split("│")[2:3]] == [
        "not built"]


def test_the_note_names_backfill_for_periods_older_than_the_hourly_run_builds(lake, capsys):
    """The automatic hourly run builds ended hours of the last 7 days only (docs/rollups.md):
    a range from a month ago was told 'voice-monitor rollup hourly builds the ended ones now',
    which builds none of them."""
    land_records(lake, [event("artifact_received", NOW - 30 * 24 * H)], now=NOW)
    code, out, err = run_main(capsys, "metrics", "orgs", "--lake", str(lake.root),
                              "--start", "2026-01-17T14:00Z", "--end", "2026-01-17T16:00Z")
    assert code == 0, err
    assert "2 hour(s) of the range with no snapshot" in out
    assert "'voice-monitor backfill --start T --end T' any range" in out


def test_every_period_built_prints_no_note(lake, capsys):
    land_records(lake, [event("artifact_received", HOUR_12 + H / 2)], now=NOW)
    run_hourly(lake, NOW, hour=HOUR_12)
    code, out, err = run_main(capsys, "metrics", "historical", "--lake", str(lake.root),
                              "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T13:00Z")
    assert code == 0, err
    assert "not built" not in out


def _org_1_with_hour_13_not_built(lake) -> list[str]:
    """a1 of org-1 in hour 12, built; a2 in hour 13, not built: the options of 12:00 to 14:00."""
    land_records(lake, [
        event("artifact_received", HOUR_12 + 5 * M, artifact_id="a1", organization_id="org-1"),
        event("artifact_received", HOUR_13 + 5 * M, artifact_id="a2", organization_id="org-1"),
    ], now=NOW)
    run_hourly(lake, NOW, hour=HOUR_12)
    return ["--lake", str(lake.root), "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T14:00Z"]


def test_totals_say_which_periods_of_their_range_they_leave_out(lake, capsys):
    """`metrics stages` and `metrics orgs` sum snapshot rows: by default over the last 24 hours,
    whose newest hour or two have no snapshot before the :30 rollup. The totals silently left
    those hours' events out; a line now says how many hours of the range are missing."""
    root = _org_1_with_hour_13_not_built(lake)
    note = ("1 hour(s) of the range with no snapshot, left out of these totals: an hour's "
            "snapshot is built at :30 after it ends ('voice-monitor rollup hourly' builds the "
            "ended ones of the last 7 days now, 'voice-monitor backfill --start T --end T' "
            "any range)")
    for command in ("stages", "orgs"):
        code, out, err = run_main(capsys, "metrics", command, *root)
        assert code == 0, err
        assert note in out, command
        code, out, err = run_main(capsys, "metrics", command, *root, "--json")
        assert "no snapshot" not in out  # --json stays the rows alone
        json.loads(out)
    code, out, _ = run_main(capsys, "metrics", "orgs", *root)
    org, = _lines(out, "org-1")
    assert org.split("│")[3].strip() == "1"  # a1 only: a2's hour 13 is the one left out
    run_hourly(lake, NOW, hour=HOUR_13)
    code, out, err = run_main(capsys, "metrics", "orgs", *root)
    assert "no snapshot" not in out and _lines(out, "org-1")[0].split("│")[3].strip() == "2"


def test_each_totals_note_counts_the_snapshots_it_sums(lake, capsys):
    """`metrics stages` sums the stage snapshots and `metrics orgs` the pipeline ones. Both notes
    counted the pipeline snapshots' gaps (a second, whole read of the range): a retention run
    that stopped between the two tables (pipeline_hourly dropped, stage_hourly kept) left the
    stage totals whole under a note saying an hour was left out of them, and the org totals short
    with the right note; the reverse left the stage totals short with no note at all."""
    import shutil

    land_records(lake, [event("artifact_received", HOUR_12 + 5 * M, artifact_id="a1",
                              organization_id="org-1")], now=NOW)
    run_hourly(lake, NOW, hour=HOUR_12)
    root = ["--lake", str(lake.root), "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T13:00Z"]
    shutil.rmtree(lake.snapshot_partition("pipeline_hourly", HOUR_12))  # stage_hourly kept
    code, out, err = run_main(capsys, "metrics", "stages", *root)
    assert code == 0, err
    assert "no snapshot" not in out  # its hour 12 is there: nothing left out
    code, out, err = run_main(capsys, "metrics", "orgs", *root)
    assert code == 0, err
    assert "1 hour(s) of the range with no snapshot, left out of these totals" in out
    run_hourly(lake, NOW, hour=HOUR_12)
    shutil.rmtree(lake.snapshot_partition("stage_hourly", HOUR_12))  # pipeline_hourly kept
    code, out, err = run_main(capsys, "metrics", "stages", *root)
    assert code == 0, err
    assert "1 hour(s) of the range with no snapshot, left out of these totals" in out
    code, out, err = run_main(capsys, "metrics", "orgs", *root)
    assert code == 0, err
    assert "no snapshot" not in out
    assert _lines(out, "org-1")[0].split("│")[3].strip() == "1"  # a1, from the kept hour


def test_json_totals_name_the_periods_they_leave_out_on_stderr(lake, capsys):
    """With --json, `metrics stages` and `metrics orgs` gave no sign of the periods their totals
    left out (the API answers them as not_built). Their stdout stays the rows alone (a JSON
    array, as scripts read it); a line on stderr now names the periods, nothing when none."""
    root = _org_1_with_hour_13_not_built(lake)
    builds = ("an hour's snapshot is built at :30 after it ends ('voice-monitor rollup hourly' "
              "builds the ended ones of the last 7 days now, 'voice-monitor backfill --start T "
              "--end T' any range)\n")
    for command in ("stages", "orgs"):
        code, out, err = run_main(capsys, "metrics", command, *root, "--json")
        assert code == 0, err
        assert err == (f"voice-monitor: metrics {command}: 1 of the 2 hour(s) from "
                       "2026-02-16T12:00:00Z to 2026-02-16T14:00:00Z have no snapshot "
                       f"(2026-02-16T13:00:00Z), left out of these totals: {builds}")
        rows = json.loads(out)
        assert isinstance(rows, list)
    # a1 only: a2's hour 13 is the one left out
    assert [(r["organization_id"], r["artifacts_received"]) for r in rows] == [("org-1", 1)]
    run_hourly(lake, NOW, hour=HOUR_13)
    for command in ("stages", "orgs"):
        code, out, err = run_main(capsys, "metrics", command, *root, "--json")
        assert (code, err) == (0, "")
    assert [(r["organization_id"], r["artifacts_received"]) for r in json.loads(out)] == [
        ("org-1", 2)]
    # over 7 days the periods are days: 8 with no daily snapshot, the first three named
    code, out, err = run_main(capsys, "metrics", "orgs", "--lake", str(lake.root), "--json",
                              "--start", "2026-02-01T00:00Z", "--end", "2026-02-09T00:00Z")
    assert (code, json.loads(out)) == (0, [])
    assert err == ("voice-monitor: metrics orgs: 8 of the 8 day(s) from 2026-02-01T00:00:00Z to "
                   "2026-02-09T00:00:00Z have no snapshot (2026-02-01T00:00:00Z, "
                   "2026-02-02T00:00:00Z, 2026-02-03T00:00:00Z, ...), left out of these totals: "
                   "a day's snapshot is built at 01:30 after it ends ('voice-monitor rollup "
                   "daily' builds the ended ones of the last 7 days now, 'voice-monitor backfill "
                   "--start T --end T' any range)\n")


def test_a_long_range_prints_the_first_1000_rows_and_says_so(lake, capsys):
    # a 40,000-hour table took 10-35 s to print (no cap outside `sql`): now the first 1,000
    # rows, as `sql` shows, and one stderr line; --limit N (0 = all), --json whole
    land_records(lake, [event("artifact_received", HOUR_12 + 5 * M)], now=NOW)
    root = ["--lake", str(lake.root), "--end", "2026-02-16T14:00Z", "--period", "hour"]
    start = ["--start", "2026-01-25T00:00Z"]  # 22 days and 14 hours: 542 hours
    code, out, err = run_main(capsys, "metrics", "historical", *root, "--start",
                              "2026-01-01T00:00Z")  # 24 * 46 + 14 = 1,118 hours
    assert code == 0, err
    assert len(_lines(out, ":00:00Z │")) == 1000
    assert _lines(out, "2026-02-11 15:00:00Z") and not _lines(out, "2026-02-11 16:00:00Z")
    assert "1118 hour(s) with no snapshot" in out  # the note counts every row
    assert err == ("voice-monitor: showing the first 1,000 of 1,118 rows: pass --limit N for "
                   "more (0 = all), --json, or a narrower range\n")
    code, out, err = run_main(capsys, "metrics", "historical", *root, *start, "--limit", "3")
    assert len(_lines(out, ":00:00Z │")) == 3 and "of 542 rows" in err
    code, out, err = run_main(capsys, "metrics", "historical", *root, *start, "--json")
    assert len(json.loads(out)) == 542 and err == ""
    code, out, err = run_main(capsys, "metrics", "historical", *root, *start, "--json",
                              "--limit", "2")
    assert len(json.loads(out)) == 2 and "showing the first 2 of 542 rows" in err
    code, out, err = run_main(capsys, "metrics", "orgs", "--lake", str(lake.root), "--limit",
                              "0", "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T13:00Z")
    assert code == 0 and "showing" not in err
