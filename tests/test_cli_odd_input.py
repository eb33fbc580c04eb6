"""Odd but plausible command lines: a clear one-line error, never Python's own words."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_one_line_error, run_main


@pytest.mark.parametrize("query", ["", ";", "  ;; ", "/* nothing */"])
@pytest.mark.parametrize("writes", [[], ["--allow-writes"]], ids=["read-only", "allow-writes"])
def test_sql_without_a_statement_says_so(capsys, lake, query, writes):
    # it was "AttributeError: 'NoneType' object has no attribute 'description'"
    code, _, err = run_main(capsys, "sql", query, *writes, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"no SQL statement in {query!r}" in err


def test_a_negative_compaction_grace_is_a_usage_error(capsys, lake):
    # it compacted hours that had not closed yet
    code, _, err = run_main(capsys, "compact", "--grace-hours", "-1", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert "'--grace-hours': -1.0 is not in the range x>=0" in err


def test_json_output_is_strict_json_with_non_finite_numbers_as_null(capsys, lake):
    # it printed NaN and Infinity, which JSON has not (jq and strict parsers refuse the output)
    query = ("select 'nan'::double as n, '-inf'::double as i, 1.5 as f, "
             "[1.0, 'inf'::double] as l, {'a': 'nan'::double} as s")
    code, out, err = run_main(capsys, "sql", query, "--json", "--lake", str(lake.root))
    assert code == 0, err

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    assert json.loads(out, parse_constant=refuse) == [
        {"n": None, "i": None, "f": 1.5, "l": [1.0, None], "s": {"a": None}}]


# INTERVAL, BLOB, TIME, UUID, DECIMAL, nested, a MAP keyed by dates and a TIMESTAMP (no zone)
OTHER_TYPES = ("select interval 90 minute as i, interval '1 day 2 hours 3.5 seconds' as i2, "
               "-interval 90 minute as neg, interval 0 second as zero, 'ab\\x00'::blob as b, "
               "time '12:34:56.789' as t, uuid '123e4567-e89b-12d3-a456-426614174000' as u, "
               "1.50::decimal(10, 2) as d, {'a': 1, 'b': [interval 1 hour]} as s, "
               "map {date '2026-01-01': 1} as m, timestamp '2026-01-01 10:00' as ts")


def test_json_output_writes_every_sql_type_as_a_json_value(capsys, lake, new_york):
    # INTERVAL was Python's text ("1:30:00", "-1 day, 22:30:00"), BLOB Python's repr
    # ("b'ab\\x00'"), a MAP keyed by dates "TypeError: keys must be str ...", and a TIMESTAMP
    # without a zone was read as the machine's local time (10:00 came out as 15:00Z)
    code, out, err = run_main(capsys, "sql", OTHER_TYPES, "--json", "--lake", str(lake.root))
    assert code == 0, err
    assert json.loads(out) == [{
        "i": "PT1H30M", "i2": "P1DT2H3.5S", "neg": "-PT1H30M", "zero": "PT0S",  # ISO-8601
        "b": "YWIA",  # base64 of the bytes 61 62 00
        "t": "12:34:56.789000", "u": "123e4567-e89b-12d3-a456-426614174000", "d": 1.5,
        "s": {"a": 1, "b": ["PT1H"]}, "m": {"2026-01-01": 1}, "ts": "2026-01-01T10:00:00Z"}]


def test_csv_output_writes_the_same_text(capsys, lake, new_york):
    code, out, err = run_main(capsys, "sql", OTHER_TYPES, "--csv", "--lake", str(lake.root))
    assert code == 0, err
    assert out.splitlines()[1] == (
        'PT1H30M,P1DT2H3.5S,-PT1H30M,PT0S,YWIA,12:34:56.789000,'
        '123e4567-e89b-12d3-a456-426614174000,1.50,"{""a"": 1, ""b"": [""PT1H""]}",'
        '"{""2026-01-01"": 1}",2026-01-01T10:00:00Z')
    code, out, err = run_main(capsys, "sql", "select timestamp '2026-01-01 10:00' as ts",
                              "--lake", str(lake.root))
    assert code == 0, err
    assert "2026-01-01 10:00:00Z" in out  # the table too: not 15:00Z


@pytest.mark.parametrize(("hours", "shown"), [
    ("nan", "nan"), ("inf", "inf"), ("1e400", "inf"),  # 1e400 as a float is infinity
    ("876001", "876001.0"),
])
def test_a_compaction_grace_that_is_no_number_of_hours_is_a_usage_error(capsys, lake, hours,
                                                                      shown):
    # "cannot convert float NaN to integer", "OverflowError: cannot convert float infinity ..."
    code, _, err = run_main(capsys, "compact", "--grace-hours", hours, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert (f"'--grace-hours': {shown} is not a number of hours up to 876,000 (100 years); "
            "use e.g. 1 or 0.5") in err


def test_serve_refuses_a_client_timeout_that_is_not_a_number(capsys, tmp_path, monkeypatch):
    # NaN passed the FloatRange(1, 3600): the server started, then uvloop refused every
    # connection with "ValueError: cannot convert float NaN to integer" and a traceback each
    import signal

    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k))
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    code, _, err = run_main(capsys, "serve", "--no-auth", "--port", "0", "--client-timeout",
                            "nan", "--lake", str(tmp_path / "lake"))
    assert_one_line_error(code, err, status=2)
    assert ("'--client-timeout': nan is not a number of seconds from 1 to 3600; use e.g. 30"
            in err)
    assert served == []


@pytest.mark.parametrize("option, value, bounds", [
    # 2**63 started a server whose every gzip batch was a 500 (OverflowError in zlib); a
    # body over the queue's 512 MiB would be held alone, and a queue beyond 65536 batches
    # cannot fill (each is an open connection)
    ("--max-body-bytes", str(2**63), "1<=x<=536870912"),
    ("--max-body-bytes", "536870913", "1<=x<=536870912"),
    ("--max-body-bytes", "0", "1<=x<=536870912"),
    ("--queue-size", "65537", "0<=x<=65536"),
    ("--queue-size", "-1", "0<=x<=65536"),
])
def test_a_serve_limit_out_of_range_is_a_usage_error_naming_it(capsys, monkeypatch, tmp_path,
                                                               option, value, bounds):
    import signal

    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k))
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    code, _, err = run_main(capsys, "serve", "--no-auth", "--port", "0", option, value,
                            "--lake", str(tmp_path / "lake"))
    assert_one_line_error(code, err, status=2)
    assert f"'{option}': {value} is not in the range {bounds}" in err
    assert served == []
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize("host, said", [
    # each was taken as a name to look up: "cannot listen on [[::1]]:8787: Name or service not
    # known" (and with --no-auth "--no-auth only binds 127.0.0.1, not '[::1]'", though it does)
    ("[::1]", "'[::1]': give an IPv6 address without brackets, --host ::1"),
    ("127.0.0.1:8000", "'127.0.0.1:8000' holds a port; give it apart: --host 127.0.0.1 "
                       "--port 8000"),
    ("[::1]:8000", "'[::1]:8000' holds a port; give it apart: --host ::1 --port 8000"),
    ("http://127.0.0.1", "'http://127.0.0.1' is not an address: give the host alone, without "
                         "a scheme or path, e.g. --host 127.0.0.1 (the port as --port)"),
    (" 127.0.0.1", "' 127.0.0.1' has spaces around it; give an address of this machine, e.g. "
                   "127.0.0.1 (or 0.0.0.0 for all of them)"),
    ("", "'' is empty; give an address of this machine, e.g. 127.0.0.1 (or 0.0.0.0 for all of "
         "them)"),
])
@pytest.mark.parametrize("auth", [["--no-auth"], []], ids=["no-auth", "tokens"])
def test_a_serve_host_with_a_port_scheme_or_brackets_is_a_usage_error_naming_the_fix(
        capsys, monkeypatch, tmp_path, host, said, auth):
    import signal

    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k))
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    if not auth:
        monkeypatch.setenv("VOICE_MONITOR_STAFF_TOKENS", "staff-token-0123456789abcdef")
    code, _, err = run_main(capsys, "serve", *auth, "--host", host, "--port", "0",
                            "--lake", str(tmp_path / "lake"))
    assert_one_line_error(code, err, status=2)
    assert f"Invalid value for '--host': {said}" in err
    assert served == []
    assert not (tmp_path / "lake").exists()


def test_a_serve_host_an_address_or_name_alone_is_taken(capsys, monkeypatch, tmp_path):
    import signal

    import uvicorn

    from voice_monitor.server.app import SERVE_ENV

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k["host"]))
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    monkeypatch.setenv(SERVE_ENV, "{}")  # serve sets it for its workers: restored afterwards
    for host in ("127.0.0.1", "::1", "localhost"):
        code, _, err = run_main(capsys, "serve", "--no-auth", "--host", host, "--port", "0",
                                "--lake", str(tmp_path / "lake"))
        assert code == 0, err
    assert served == ["127.0.0.1", "::1", "localhost"]


@pytest.mark.parametrize("command", ["init", "ingest"])
def test_a_lake_folder_the_system_will_not_make_is_one_line_naming_it(capsys, tmp_path, command):
    # it was the OS's words alone, no fix: "[Errno 2] No such file or directory: '/proc/...'"
    # (as "[Errno 13] Permission denied: '/srv/x'" is for a user who may not write there);
    # /proc refuses a new folder whoever asks
    where = "/proc/voice-monitor-no-such/lake"
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1", "event_type": "artifact_received", '
                      '"timestamp": "2026-02-16T14:00:00Z"}\n')
    argv = ["init", where] if command == "init" else ["ingest", str(events), "--lake", where]
    code, _, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, status=1)
    assert err == (f"voice-monitor: error: cannot create a lake at '{where}': No such file or "
                   "directory; pick a folder this user can create and write, e.g. ./data\n")


def test_a_query_that_is_not_utf8_is_one_line_naming_the_byte(capsys, lake):
    # the byte 0xff in a shell argument reaches Python as the lone surrogate '\udcff': it was
    # "TypeError: extract_statements(): incompatible function arguments. ..."
    code, _, err = run_main(capsys, "sql", "select 1\udcff", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert ("query is not valid UTF-8 text: the byte 0xff at character 9 ('select 1' before "
            "it); write the query in UTF-8") in err
    from voice_monitor.adhoc import run_query

    with pytest.raises(ValueError, match=r"query is not valid UTF-8 text: '\\ud800' at character 9"):
        run_query(lake, "select '\ud800'")
    with pytest.raises(ValueError, match=r"query b'select 1' is not text; pass the SQL as a str"):
        run_query(lake, b"select 1")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux's /proc, which takes no file")
def test_a_catalog_in_a_folder_that_takes_no_file_names_it_and_the_fix(capsys, lake):
    # DuckDB's line was 'IOException: IO Error: Cannot open file "/proc/.x.duckdb.<stem>.tmp":
    # No such file or directory (run with --debug ...)', naming our temporary file
    code, _, err = run_main(capsys, "catalog", "/proc/voice-monitor-x.duckdb",
                            "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert ("cannot write the catalog '/proc/voice-monitor-x.duckdb': no file can be made in "
            "'/proc'; choose a folder you can write to") in err


def test_a_catalog_path_that_is_a_folder_is_a_usage_error_naming_a_file_to_give(
        capsys, lake, tmp_path):
    # a folder was click's "File '…' is a directory." (no fix); a path ending in '/' of a folder
    # not there yet wrote a file of the folder's name ('exports/' made the file 'exports')
    folder = tmp_path / "my folder"
    folder.mkdir()
    for given, example in ((str(folder), f"'{folder}/catalog.duckdb'"),
                           (f"{tmp_path}/exports/", f"{tmp_path}/exports/catalog.duckdb")):
        code, out, err = run_main(capsys, "catalog", given, "--lake", str(lake.root))
        assert_one_line_error(code, err, status=2)
        assert (f"Invalid value for '[PATH]': catalog path {given!r} is a folder; name a file "
                f"in it, e.g. {example} (see ") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "my folder"]
    assert list(folder.iterdir()) == []


@pytest.fixture
def no_server(monkeypatch):
    """uvicorn.run records its call instead of serving: a refusal that did not happen fails the
    test instead of hanging it."""
    import uvicorn

    from voice_monitor.server.app import SERVE_ENV

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(k))
    monkeypatch.delenv(SERVE_ENV, raising=False)  # serve sets it for its workers: put it back
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    for name in ("VOICE_MONITOR_INGEST_TOKENS", "VOICE_MONITOR_STAFF_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    return started


@pytest.mark.parametrize("text", ["", "\n\n", "# staff tokens go here\n"])
def test_serve_with_an_empty_tokens_file_names_it_and_what_it_must_hold(
        capsys, tmp_path, no_server, monkeypatch, text):
    # it said "no tokens configured; ... or pass --tokens-file FILE" to someone who had
    path = tmp_path / "tokens"
    path.write_text(text)
    code, _, err = run_main(capsys, "serve", "--tokens-file", str(path), "--lake",
                            str(tmp_path / "lake"))
    assert_one_line_error(code, err, status=1)
    assert (f"tokens file {str(path)!r} holds no token (it is empty, or only blank and # lines); "
            "write one 'ingest TOKEN [NAME]' or 'staff TOKEN [NAME]' per line") in err
    # refused even when the environment holds tokens: an emptied file is a mistake
    monkeypatch.setenv("VOICE_MONITOR_STAFF_TOKENS", "staff-token-0123456789")
    code, _, err = run_main(capsys, "serve", "--tokens-file", str(path), "--lake",
                            str(tmp_path / "lake"))
    assert_one_line_error(code, err, status=1)
    assert no_server == []


@pytest.mark.parametrize(("value", "entry"), [("not an ip", "not an ip"),
                                              ("10.0.0.5,10.0.0.256", "10.0.0.256"),
                                              ("10.0.0.5/8", "10.0.0.5/8"),
                                              ("*,10.0.0.5", "*")])
def test_serve_refuses_forwarded_allow_ips_that_are_not_addresses(capsys, tmp_path, no_server,
                                                                  value, entry):
    # uvicorn kept each as a name to compare with the client's address: no proxy was trusted
    code, _, err = run_main(capsys, "serve", "--no-auth", "--forwarded-allow-ips", value,
                            "--lake", str(tmp_path / "lake"))
    assert_one_line_error(code, err, status=2)
    assert f"{entry!r} is not an IP address or network" in err
    assert "e.g. 10.0.0.5,10.1.0.0/16, or * to trust any" in err
    assert no_server == []


def test_serve_takes_proxy_addresses_networks_or_a_star(capsys, tmp_path, no_server):
    for value in ("10.0.0.5", "10.0.0.5, 10.1.0.0/16,::1", "*"):
        code, _, err = run_main(capsys, "serve", "--no-auth", "--port", "0",
                                "--forwarded-allow-ips", value, "--lake", str(tmp_path / "lake"))
        assert code == 0, err
    assert [k["forwarded_allow_ips"] for k in no_server] == [
        "10.0.0.5", "10.0.0.5, 10.1.0.0/16,::1", "*"]


@pytest.mark.parametrize("words", [("events", "recent"), ("artifacts", "failed"),
                                   ("artifacts", "active")])
def test_limit_0_names_the_range_a_page_takes(capsys, lake, words):
    # it said "limit 0 must be a positive integer (at most 500)", yet 501 is accepted (capped);
    # a usage error (exit 2) like every other bad option value since 4f86801
    code, _, err = run_main(capsys, *words, "--limit", "0", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert ("limit 0 must be a positive integer, e.g. 50: a page holds 1 to 500 rows (a larger "
            "limit gives 500)") in err
    code, _, err = run_main(capsys, *words, "--limit", "501", "--lake", str(lake.root))
    assert code == 0, err


def test_a_catalog_in_a_missing_folder_is_refused_naming_it(capsys, lake, tmp_path):
    # it made the folders silently: a mistyped path left a catalog nobody would find
    target = tmp_path / "no-such" / "dir" / "x.duckdb"
    code, _, err = run_main(capsys, "catalog", str(target), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert (f"catalog {str(target)!r}: {str(tmp_path / 'no-such' / 'dir')!r} is a folder that "
            f"does not exist; create it first (mkdir -p {tmp_path / 'no-such' / 'dir'})") in err
    assert not (tmp_path / "no-such").exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, _, err = run_main(capsys, "catalog", str(a_file / "x.duckdb"), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"{str(a_file)!r} is a file, not a folder; name a file in a folder" in err


def test_the_table_shows_a_blob_as_base64_as_json_does(capsys, lake):
    # the table showed Python's repr, b'ab\x00' (and {'x': b'ab'} inside a struct), where
    # --json and --csv write base64: bytes 61 62 00 are YWIA, 61 62 are YWI=, 61 is YQ==
    query = "select 'ab\\x00'::blob as b, {'x': 'ab'::blob} as s, ['a'::blob] as l"
    code, out, err = run_main(capsys, "sql", query, "--lake", str(lake.root))
    assert code == 0, err
    (row,) = [line for line in out.splitlines() if "YWIA" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "YWIA", '{"x": "YWI="}', '["YQ=="]']
    assert "b'" not in out


def test_the_table_shows_a_column_whose_values_differ_in_type(capsys, lake):
    # the table went through a polars DataFrame: a VARIANT holding an integer and a list
    # failed ("SchemaError: failed to determine supertype of i64 and list[i64]"), one holding
    # a struct and an integer showed the integer as an empty cell, and a MAP with integer
    # keys failed ("TypeError: 'int' object is not an instance of 'str'"); DuckDB's own
    # duckdb_settings() has such a column (typed_value)
    for query, cells in [
            ("select 1::variant as v union all select [1, 2]::variant", [["1"], ["[1, 2]"]]),
            ("select {'a': 1}::variant as v union all select 2::variant", [['{"a": 1}'], ["2"]]),
            ("select map {1: 'a'} as m", [['{"1": "a"}']]),
            # a TIMETZ lost its offset in the DataFrame (12:00:00); --json keeps it
            ("select '12:00:00+05'::timetz as t", [["12:00:00+05:00"]])]:
        code, out, err = run_main(capsys, "sql", query, "--lake", str(lake.root))
        assert code == 0, err
        rows = [line for line in out.splitlines() if line.startswith("│")]
        assert sorted([cell.strip() for cell in row.strip("│ ").split("│")] for row in rows) \
            == sorted(cells), out


def test_serve_with_a_tokens_file_it_cannot_read_names_it_once_and_the_fix(
        capsys, tmp_path, no_server):
    # said "cannot read tokens file '/x': [Errno 2] No such file or directory: '/x'": the path
    # twice, OSError's number, no fix; a file not UTF-8 gave the codec's words
    missing = tmp_path / "no-such-tokens"
    binary = tmp_path / "tokens.bin"
    binary.write_bytes(b"staff \xff\xfe-not-text-0123456789\n")
    for path, words in (
            (missing, f"cannot read tokens file {str(missing)!r}: No such file or directory; "
                      "check the path, and that the user running the server may read the file"),
            (binary, f"tokens file {str(binary)!r} is not UTF-8 text; write one 'ingest TOKEN "
                     "[NAME]' or 'staff TOKEN [NAME]' per line")):
        code, _, err = run_main(capsys, "serve", "--tokens-file", str(path), "--lake",
                                str(tmp_path / "lake"))
        assert_one_line_error(code, err, status=1)
        assert err == f"voice-monitor: error: {words}\n"
    assert no_server == []
