"""The organizations dimension: loading a CSV file, clear errors, names in org_breakdown."""

from __future__ import annotations

import pytest

from voice_monitor.organizations import (
    OrganizationsFileError,
    load_organizations,
    read_organizations,
)


def write(tmp_path, text: str):
    path = tmp_path / "orgs.csv"
    path.write_text(text)
    return path


def test_load_writes_the_dimension(lake, tmp_path):
    path = write(tmp_path, 'organization_id,name\norg-1,Acme\norg-2,"Beta, Inc."\n')
    assert load_organizations(lake, path) == 2
    table = read_organizations(lake)
    assert table.to_pydict() == {"organization_id": ["org-1", "org-2"],
                                 "name": ["Acme", "Beta, Inc."]}
    # loading again replaces, never appends
    load_organizations(lake, write(tmp_path, "organization_id,name\norg-3,Gamma\n"))
    assert read_organizations(lake).to_pydict()["organization_id"] == ["org-3"]
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []  # written under .tmp/, then renamed


def test_an_excel_csv_with_a_byte_order_mark_and_crlf_loads(lake, tmp_path):
    # Excel's "CSV UTF-8" starts with a BOM, which once made the header "\ufefforganization_id"
    path = tmp_path / "excel.csv"
    path.write_bytes(b'\xef\xbb\xbforganization_id,name\r\norg-1,"Acme, Inc."\r\norg-2,Beta\r\n')
    assert load_organizations(lake, path) == 2
    assert read_organizations(lake).to_pydict() == {"organization_id": ["org-1", "org-2"],
                                                    "name": ["Acme, Inc.", "Beta"]}


@pytest.mark.parametrize("text, message", [
    ("id,name\norg-1,Acme\n", "line 1: header 'id,name'"),
    ("organization_id,name\norg-1,Acme\norg-1,Again\n", "line 3: organization_id 'org-1' repeats line 2"),
    ("organization_id,name\norg-1,\n", "line 2: name '' of 'org-1'"),
    ("organization_id,name\n,Nameless\n", "line 2: organization_id '' is not a valid id"),
    ("organization_id,name\norg-1,A,extra\n", "line 2: expected 2 fields"),
    ("organization_id,name\norg-1\n", "line 2: expected 2 fields"),
])
def test_bad_rows_name_line_and_value(lake, tmp_path, text, message):
    with pytest.raises(OrganizationsFileError, match=message):
        load_organizations(lake, write(tmp_path, text))
    assert not lake.organizations_file.exists()  # nothing written


def test_missing_file_is_a_clear_error(lake, tmp_path):
    # the fix and that nothing changed, as `ingest` says them ("check the path (nothing was
    # ingested)"): it said "No such file or directory" alone
    with pytest.raises(OrganizationsFileError,
                       match=r"cannot read '.*absent.csv': No such file or directory; check the "
                             r"path \(nothing was loaded\)$"):
        load_organizations(lake, tmp_path / "absent.csv")


def test_an_empty_path_is_named_as_given(capsys, lake):
    # `voice-monitor orgs load "$FILE"` with FILE unset said "cannot read '.': Is a directory"
    from conftest import assert_one_line_error, run_main

    code, _, err = run_main(capsys, "orgs", "load", "", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert ("organizations file '' is an empty path; pass the CSV file, e.g. "
            "organizations.csv") in err
    assert not lake.organizations_file.exists()


# -- a dimension file written by hand (contract §4: user-supplied) ---------------------------
def _hand_written(lake, table) -> None:
    import pyarrow.parquet as pq

    lake.organizations_file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, lake.organizations_file)


def _orgs_lake(lake):
    from datetime import timedelta

    from conftest import NOW, event

    from voice_monitor.landing import land_records
    from voice_monitor.rollups import run_hourly

    hour = NOW.replace(minute=0) - timedelta(hours=1)  # 13:00
    land_records(lake, [event("artifact_received", hour + timedelta(minutes=5),
                              organization_id="org-1")], now=NOW)
    run_hourly(lake, NOW, hour=hour)
    return ["--lake", str(lake.root), "--start", "2026-02-16T13:00Z", "--end", "2026-02-16T14:00Z"]


def test_hand_written_names_of_another_type_or_given_twice_are_read_once(lake, capsys):
    import json

    import pyarrow as pa
    from conftest import run_main

    root = _orgs_lake(lake)
    # names as numbers, org-1 twice (the least name is kept), a row without an id
    _hand_written(lake, pa.table({"organization_id": ["org-1", "org-1", None],
                                  "name": [20, 10, 30]}))
    code, out, err = run_main(capsys, "metrics", "orgs", *root, "--json")
    assert code == 0, err
    assert [(r["organization_id"], r["name"]) for r in json.loads(out)] == [("org-1", "10")]


@pytest.mark.parametrize("damage", ["other columns", "truncated"])
def test_a_damaged_dimension_file_shows_unknown_names_and_fails_only_reading_it(lake, capsys,
                                                                                damage):
    # contract §10: org_breakdown shows 'Unknown' for a missing name; a damaged names file
    # failed `metrics orgs` outright, hiding every organization's totals for want of names
    import json

    import pyarrow as pa
    from conftest import run_main

    from voice_monitor import queries

    root = _orgs_lake(lake)
    _hand_written(lake, pa.table({"org": ["org-1"], "title": ["Acme"]}))
    if damage == "truncated":
        _hand_written(lake, pa.table({"organization_id": ["org-1"], "name": ["Acme"]}))
        data = lake.organizations_file.read_bytes()
        lake.organizations_file.write_bytes(data[: len(data) // 2])
    code, out, err = run_main(capsys, "metrics", "orgs", *root, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["organization_id"], r["name"], r["artifacts_received"]) for r in rows] == [
        ("org-1", "Unknown", 1)]
    (line,) = err.strip().splitlines()
    assert line.startswith("voice-monitor: warning: organization names shown as 'Unknown': ")
    assert "dimensions/organizations.parquet" in line and "voice-monitor orgs load" in line
    if damage == "other columns":
        assert "no column organization_id, name" in line
    else:
        assert "lake check --move-aside" in line
    with pytest.warns(queries.OrganizationNamesUnreadableWarning, match="organizations.parquet"):
        frame = queries.org_breakdown(lake, "2026-02-16T13:00Z", "2026-02-16T14:00Z")
    assert frame["name"].to_list() == ["Unknown"]
    # reading the names themselves is an error, not "no rows"; the rest of the lake answers
    base = ["--lake", str(lake.root)]
    code, out, err = run_main(capsys, "sql", *base, "select * from organizations")
    assert code == 1 and "dimensions/organizations.parquet" in err
    code, out, err = run_main(capsys, "sql", *base, "--json", "select count(*) as n from events")
    assert (code, json.loads(out)) == (0, [{"n": 1}]), err


def test_counts_printed_say_one_in_the_singular(lake, tmp_path, capsys):
    # 'loaded 1 organizations', 'pipeline_hourly  1 rows', 'compacted 1 hours, replacing 1 files'
    from datetime import UTC, datetime

    from conftest import event, run_main

    from voice_monitor.landing import land_records

    root = ("--lake", str(lake.root))
    one = write(tmp_path, "organization_id,name\norg-1,Acme\n")
    assert run_main(capsys, "orgs", "load", str(one), *root) == (
        0, f"loaded 1 organization into {lake.organizations_file}\n", "")
    two = write(tmp_path, "organization_id,name\norg-1,Acme\norg-2,Beta\n")
    assert run_main(capsys, "orgs", "load", str(two), *root)[1] == (
        f"loaded 2 organizations into {lake.organizations_file}\n")
    # one event at 12:10, landed twice (two files in its hour): the hour's one platform row
    at = datetime(2026, 2, 16, 12, 10, tzinfo=UTC)
    for i in range(2):
        land_records(lake, [event("artifact_received", at, event_id=f"e{i}")], now=at)
    code, out, err = run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T12", *root,
                              "--now", "2026-02-16T14:00Z")
    assert code == 0, err
    assert "  pipeline_hourly  1 row\n" in out
    code, out, err = run_main(capsys, "compact", *root, "--now", "2026-02-16T14:00Z")
    assert (code, out) == (0, "compacted 1 hour, replacing 2 files\n"), err
