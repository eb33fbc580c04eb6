"""The lake on object storage (contract §13): the storage seam on a local folder and on an
in-process object store (fast). The end-to-end comparison on a real S3-protocol server is in
test_lake_s3_e2e.py."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pytest
from lake_events import NOW

from voice_monitor import read_through, storage
from voice_monitor.lake import Lake, dropped_periods, parquet_files, record_dropped

ROWS = pa.table({"event_id": ["a", "b"], "n": [1, 2]})


# -- the seam, on a local folder (fast) ---------------------------------------------------------
def test_local_roots_stay_pathlib_and_urls_become_object_store_paths(tmp_path):
    assert isinstance(Lake(tmp_path).root, Path) and not Lake(tmp_path).remote
    # a local path that merely contains "://"-like text further on is still local
    assert isinstance(Lake(tmp_path / "a:b").root, Path)
    remote = Lake("s3://bucket/some/prefix/")
    assert remote.remote and str(remote.root) == "s3://bucket/some/prefix"
    assert str(remote.event_partition(NOW)) == "s3://bucket/some/prefix/events/date=2026-02-16/hour=14"
    with pytest.raises(ValueError, match="unsupported lake URL 'ftp://x/y'"):
        Lake("ftp://x/y")


def test_an_s3_url_without_a_bucket_or_with_a_bad_one_is_refused(capsys, tmp_path, monkeypatch):
    # `--lake s3://` was the local folder "s3:" (init made a lake there); a bucket with spaces
    # reached botocore, whose one line was "ParamValidationError: Parameter validation failed:"
    from conftest import assert_one_line_error, run_main

    monkeypatch.chdir(tmp_path)
    for url in ("s3://", "s3:///prefix", "s3a://"):
        with pytest.raises(ValueError, match=f"^lake URL '{url}' names no bucket; use "
                                             "s3://bucket/prefix$"):
            Lake(url)
    for bucket in ("my bucket", "lakes:x", "lakés"):  # characters no store's bucket has
        with pytest.raises(ValueError, match=(
                f"^lake URL 's3://{bucket}/x': '{bucket}' is not a bucket name \\(letters, "
                "digits, dots, hyphens and underscores\\); use s3://bucket/prefix$")):
            Lake(f"s3://{bucket}/x")
    # a 2-character bucket was taken, and the store's answer said to create it: no store can
    for url, size in (("s3://ab/x", 2), ("s3://" + "b" * 256 + "/x", 256)):
        with pytest.raises(ValueError, match=rf"^lake URL '{url}': '\w+' is not a bucket name "
                                             rf"\({size} characters; a bucket name has 3 to 63, "
                                             r"or up to 255 if made in us-east-1 before March "
                                             r"2018\); use s3://bucket/prefix$"):
            Lake(url)
    for bucket in ("a.b-c_d", "Legacy_Bucket", "x" * 255, "l4k"):  # S3's, or a legacy name
        assert Lake(f"s3://{bucket}/x").remote
    # names S3 no longer lets be made, but a bucket made in us-east-1 before March 2018 may
    # have (ending in '-' or '.', holding '..'), or Ceph's with rgw_relaxed_s3_bucket_names
    # (also beginning with '_', '-' or '.'): 58b2371 refused them, so such a lake was unusable
    for bucket in ("lakes-", "lakes.", "la..kes", "_lakes", "-lakes", ".lakes"):
        assert Lake(f"s3://{bucket}/x").remote, bucket
    for argv in (["init", "s3://"], ["metrics", "realtime", "--lake", "s3://my bucket/x"],
                 ["init", "s3://ab/x"]):
        code, _, err = run_main(capsys, *argv)
        assert_one_line_error(code, err, status=1)
        assert "names no bucket" in err or "is not a bucket name" in err
    assert list(tmp_path.iterdir()) == []  # no local folder "s3:"


def test_an_s3_url_with_an_empty_or_dot_part_in_its_prefix_is_refused(capsys, tmp_path,
                                                                        monkeypatch):
    # `--lake s3://lake//p2` found the lake at s3://lake/p2 (its folders listed) but wrote its
    # snapshots under the key /p2/… beside it: a rollup there rebuilt an hour retention had
    # dropped (the record of the drop was under p2/), into files the real lake never reads
    from conftest import assert_one_line_error, run_main

    monkeypatch.chdir(tmp_path)
    for url, meant in (("s3://lake//p2", "s3://lake/p2"), ("s3://lake/a/./b", "s3://lake/a/b"),
                       ("s3://lake/a/../p2", "s3://lake/p2"), ("s3://lake/p2/.", "s3://lake/p2"),
                       ("s3://lake/.", "s3://lake"), ("memory://lake//p2", "memory://lake/p2")):
        with pytest.raises(ValueError, match=(
                f"^lake URL {url!r} has an empty, '.' or '..' part in its prefix; an object "
                f"store takes such a key literally, as another place than {meant!r}: write "
                f"the prefix without it, e.g. {meant}$").replace(".", r"\.")):
            Lake(url)
    code, _, err = run_main(capsys, "rollup", "hourly", "--lake", "s3://lake//p2")
    assert_one_line_error(code, err, status=1)
    assert "e.g. s3://lake/p2" in err
    # trailing slashes are no part: the same lake
    assert str(Lake("s3://lake/p2//").root) == str(Lake("s3://lake/p2").root) == "s3://lake/p2"


def test_an_upper_case_or_s3a_scheme_is_the_s3_lake():
    # 'S3://' was "Unsupported filesystem: 'S3'"; on 's3a://' every command but `sql` worked,
    # which refused each file: listings name them s3://…, outside its allowed s3a:// folders
    from voice_monitor.adhoc import _allowed_directories

    for url in ("S3://lake/p2", "s3a://lake/p2", "S3A://lake/p2/"):
        lake = Lake(url)
        assert str(lake.root) == "s3://lake/p2"
        assert "s3://lake/p2/events/" in _allowed_directories(lake)


def test_a_malformed_endpoint_url_is_refused_naming_the_variable(capsys, tmp_path, monkeypatch):
    # botocore's own words were "Invalid endpoint: 127.0.0.1:9000" and "EndpointResolutionError:
    # Custom endpoint `htp://…` was not a valid URI (run with --debug for the traceback)"
    from conftest import assert_one_line_error, run_main

    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    for endpoint in ("127.0.0.1:9000", "htp://127.0.0.1:9000", "http://127.0.0.1:ninety",
                     "http://:9000"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        for argv in (["init", "s3://lakes/prod"], ["events", "recent", "--lake", "s3://lakes/prod"]):
            code, _, err = run_main(capsys, *argv)
            assert_one_line_error(code, err, status=1)
            assert err.strip() == (f"voice-monitor: error: AWS_ENDPOINT_URL {endpoint!r} is not "
                                   "the URL of an S3-compatible store; use http(s)://host[:port], "
                                   "e.g. https://minio.internal:9000, or unset it for AWS S3")
    for endpoint in ("http://127.0.0.1:9000", "https://minio.internal", "HTTPS://r2.example/"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        assert Lake("s3://lakes/prod").remote  # a well-formed URL is taken as it is


def test_publish_replaces_a_local_file_whole_and_leaves_no_temp(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    dest = lake.root / "dimensions" / "x.parquet"
    lake.publish(ROWS, dest)
    lake.publish(ROWS.slice(0, 1), dest)
    assert storage.read_table(dest).to_pylist() == [{"event_id": "a", "n": 1}]
    lake.publish_bytes(lake.state_dir / "m.json", b'{"k": 1}')
    assert json.loads((lake.state_dir / "m.json").read_text()) == {"k": 1}
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []  # nothing left staged
    (size, version), = storage.sizes_and_versions([dest])
    assert size == dest.stat().st_size and version == dest.stat().st_mtime_ns


def test_local_state_stays_in_the_lake_and_an_s3_lake_keeps_it_in_a_local_folder(
        tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    assert lake.local_state_dir == lake.state_dir
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    remote = Lake("s3://bucket/pre/fix")  # AWS S3: no endpoint
    assert remote.local_state_dir == tmp_path / "state" / "s3@aws" / "bucket%2Fpre%2Ffix"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://MinIO.internal/")  # port 443 by default
    assert Lake("s3://bucket/pre/fix").local_state_dir == (
        tmp_path / "state" / "s3@https_minio.internal_443" / "bucket%2Fpre%2Ffix")


def test_state_folders_of_nested_lakes_never_nest_and_older_ones_are_taken_over(
        tmp_path, monkeypatch):
    # named <bucket>/<prefix>, the state of s3://lakes/team/spool was the spool folder of
    # s3://lakes/team (its counter store among the other's spooled events), and every lake's
    # folder held those of the lakes under its prefix
    state = tmp_path / "state"
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(state))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws = state / "s3@aws"
    # 5def2be's names: s3@<store>/<bucket>/<prefix>, a longer prefix's state inside
    (aws / "lakes" / "team" / "spool" / "default").mkdir(parents=True)
    (aws / "lakes" / "team" / "counters.sqlite").write_bytes(b"team's")
    (aws / "lakes" / "team" / "spool" / "default" / "1.jsonl").write_text("{}\n")
    (aws / "lakes" / "team" / "prod" / "landed").mkdir(parents=True)
    (aws / "lakes" / "team" / "prod" / "counters.sqlite").write_bytes(b"prod's")
    # the names before them: s3/<bucket>/<prefix>
    (state / "s3" / "lakes" / "other").mkdir(parents=True)
    (state / "s3" / "lakes" / "other" / "counters.sqlite").write_bytes(b"other's")

    urls = ["s3://lakes", "s3://lakes/team", "s3://lakes/team/spool", "s3://lakes/team/prod",
            "s3://lakes/other", "s3://lakes/team%2Fprod"]
    folders = [Lake(u).local_state_dir for u in urls]
    assert [f.relative_to(aws).as_posix() for f in folders] == [
        "lakes%2F", "lakes%2Fteam", "lakes%2Fteam%2Fspool", "lakes%2Fteam%2Fprod",
        "lakes%2Fother", "lakes%2Fteam%252Fprod"]
    for one in folders:
        assert [f for f in folders if f != one and f.is_relative_to(one)] == []
    team, prod, other = folders[1], folders[3], folders[4]
    assert (team / "counters.sqlite").read_bytes() == b"team's"
    assert (team / "spool" / "default" / "1.jsonl").read_text() == "{}\n"
    assert (prod / "counters.sqlite").read_bytes() == b"prod's" and (prod / "landed").is_dir()
    assert (other / "counters.sqlite").read_bytes() == b"other's"
    assert not (aws / "lakes" / "team" / "counters.sqlite").exists()
    # a prefix too long for one folder name (255 bytes): cut, and told apart by a hash
    long_a, long_b = ("s3://lakes/" + "é" * 300 + tail for tail in ("a", "b"))
    names = [Lake(u).local_state_dir.name for u in (long_a, long_b)]
    assert names[0] != names[1] and all(len(n) <= 200 for n in names)
    assert names[0].startswith("lakes%2F%C3%A9") and "+" in names[0]


# -- the same seam on an in-process object store (fsspec memory://, fast) --------------------------
def test_object_store_files_appear_whole_under_unique_names_and_prefixes_drop(tmp_path):
    lake = Lake.create(f"memory://lake-{os.getpid()}-{tmp_path.name}")
    assert lake.exists() and lake.remote
    hour = datetime(2026, 2, 16, 9, tzinfo=UTC)
    first = lake.write_file(ROWS, lake.event_partition(hour))
    second = lake.write_file(ROWS, lake.event_partition(hour))
    assert first != second and parquet_files(lake.event_partition(hour)) == sorted([first, second])
    assert lake.event_hours() == [hour]
    lake.replace_partition(ROWS, lake.snapshot_partition("pipeline_hourly", hour))
    lake.replace_partition(ROWS.slice(1), lake.snapshot_partition("pipeline_hourly", hour))
    files = parquet_files(lake.snapshot_partition("pipeline_hourly", hour))
    assert [f.name for f in files] == ["part-0.parquet"]
    assert storage.read_table(files[0]).column("event_id").to_pylist() == ["b"]
    record_dropped(lake, "event_hours", [hour])
    record_dropped(lake, "event_hours", [datetime(2026, 2, 16, 10, tzinfo=UTC)])
    assert dropped_periods(lake, "event_hours") == {hour, datetime(2026, 2, 16, 10, tzinfo=UTC)}
    lake.drop_partition(lake.event_partition(hour))
    assert lake.event_hours() == [] and lake.clean_tmp() == 0


def test_duckdb_reads_a_store_once_per_file_and_sees_every_replacement(tmp_path, monkeypatch):
    from voice_monitor.lake import connect

    lake = Lake.create(f"memory://reads-{os.getpid()}-{tmp_path.name}")
    part = lake.snapshot_partition("pipeline_hourly", datetime(2026, 2, 16, 9, tzinfo=UTC))
    lake.replace_partition(ROWS, part)
    target = storage.url(part / "part-0.parquet")
    fs = part.fs
    calls = {"info": 0, "find": 0, "cat_file": 0}
    def counting(name: str):
        real = getattr(fs, name)

        def counted(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return counted

    for name in calls:
        monkeypatch.setattr(fs, name, counting(name))

    def read() -> list:
        return [r[0] for r in connect().execute(
            f"select event_id from read_parquet('{storage.url(part)}/*.parquet') "
            "order by 1").fetchall()]

    assert read() == ["a", "b"] and read() == ["a", "b"]
    # one listing per query; the file's details come from it and its bytes are fetched once
    # (through fsspec alone, DuckDB asks for the details 4 times and the bytes twice per query)
    assert calls == {"info": 0, "find": 2, "cat_file": 1}
    lake.replace_partition(ROWS.slice(1), part)  # our own write: forgotten at once
    assert read() == ["b"]
    # another host's replacement is seen once the remembered details are older than the TTL
    monkeypatch.setattr(read_through, "DETAILS_TTL_S", 0.0)
    fs.pipe_file(part.path + "/part-0.parquet", storage.parquet_bytes(ROWS.slice(0, 1)))
    assert [r[0] for r in connect().execute(f"select event_id from '{target}'").fetchall()] == ["a"]


# -- the same events give the same sums whatever order their files are read in ------------------
COSTS = [0.0134, 0.0847, 0.0764, 0.0255]
# landing orders in which a Kahan sum in scan order is 0.2, not the exact sum's nearest double
ORDERS = [(0, 1, 2, 3), (1, 3, 0, 2), (2, 3, 0, 1)]


@pytest.mark.parametrize("root", ["local", "memory"])
def test_hourly_sums_do_not_depend_on_the_order_files_are_read_in(tmp_path, root):
    from conftest import event

    from voice_monitor.landing import land_records
    from voice_monitor.rollups import build_hour

    hour = datetime(2026, 2, 16, 13, tzinfo=UTC)
    totals = set()
    for order in ORDERS:
        name = "".join(map(str, order))
        lake = Lake.create(tmp_path / name if root == "local"
                           else f"memory://sums-{os.getpid()}-{tmp_path.name}/{name}")
        for i in order:  # one landing, so one file, per event
            land_records(lake, [event("transcription_completed", hour, organization_id="org-a",
                                      metadata={"ai_cost_usd": COSTS[i]})], now=NOW)
        pipeline, _, _ = build_hour(lake, hour)
        totals.add(tuple(pipeline.column("total_ai_cost_usd").to_pylist()))
    # the exact sum of the four doubles (as fractions), rounded once; platform row and org-a row
    exact = float(sum(Fraction(c) for c in COSTS))
    assert exact == 0.19999999999999998 and totals == {(exact, exact)}
