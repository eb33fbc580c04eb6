"""Hard edges of input (contract §3): each bad record is quarantined alone, with its reason;
nothing is stored altered. Files, arrays, Parquet, `land_records` and the producer alike.

Inputs are written by hand; expected reasons, counts and stored values are worked out by hand.
"""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW

from voice_monitor import landing
from voice_monitor.lake import Lake, connect
from voice_monitor.landing import ingest_file, land_lines, land_records
from voice_monitor.producer import Producer
from voice_monitor.records import split_file

T = "2026-02-16T14:00:00Z"
T_DT = datetime(2026, 2, 16, 14, tzinfo=UTC)


def good(i) -> dict:
    return {"event_id": f"ok-{i}", "event_type": "artifact_received", "timestamp": T}


def line(**fields) -> bytes:
    return json.dumps({**good("x"), **fields}).encode()


def base(extra: str, event_id: str) -> bytes:
    """A record written by hand: `extra` is appended inside the object, as raw JSON text."""
    return (f'{{"event_id": "{event_id}", "event_type": "artifact_received", '
            f'"timestamp": "{T}"{extra}}}').encode()


def quarantine(lake: Lake) -> list[tuple[str, str]]:
    con = connect()
    try:
        return con.execute("select raw, reason from read_parquet($f) order by reason, raw",
                           {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchall()
    finally:
        con.close()


def stored(lake: Lake, columns: str = "event_id") -> list[tuple]:
    con = connect()
    try:
        return con.execute(f"select {columns} from read_parquet($f) order by event_id",
                           {"f": str(lake.events_dir) + "/*/*/*.parquet"}).fetchall()
    finally:
        con.close()


DEEP9 = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}  # 9 levels
DEEP8 = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}  # 8 levels: allowed
BIG = "x" * 66_000

# (raw record, reason): one of each bad kind, the reason worked out by hand from the rules
BAD: list[tuple[bytes, str]] = [
    (line(event_id="y0", timestamp="0001-01-01T00:30:00+01:00"),
     'timestamp "0001-01-01T00:30:00+01:00" is out of range: before 2000-01-01T00:00:00Z'),
    (line(event_id="secs", timestamp=1771250400),
     "timestamp 1771250400 is out of range: before 2000-01-01T00:00:00Z as epoch milliseconds "
     "(epoch seconds? multiply by 1000)"),
    (line(event_id="s1999", stage_started_at="1999-12-31T23:59:59Z"),
     'stage_started_at "1999-12-31T23:59:59Z" is out of range: before 2000-01-01T00:00:00Z'),
    (line(event_id="c1999", stage_completed_at=946684799999),
     "stage_completed_at 946684799999 is out of range: before 2000-01-01T00:00:00Z as epoch "
     "milliseconds (epoch seconds? multiply by 1000)"),
    (base("", "bad-X-utf8").replace(b"X", b"\xff"),
     "record is not valid UTF-8 (byte 0xff at offset 18, kept in raw as \\xNN)"),
    (line(event_id="nul\u0000id"),
     'event_id "nul\\u0000id" contains a control character (U+0000 to U+001F); identifiers must not'),
    (line(event_id="nl", organization_id="org\n1"),
     'organization_id "org\\n1" contains a control character (U+0000 to U+001F); identifiers '
     "must not"),
    (base(', "event_id": "dup-2"', "dup-1"), 'record repeats the top-level key "event_id"'),
    (base(', "duration_ms": NaN', "nan-duration"), "duration_ms NaN must be a finite number >= 0"),
    (base(', "metadata": {"note": NaN}', "nan-meta"),
     "metadata.note is NaN, which JSON does not allow (send null, or leave the field out)"),
    (base(', "extra": [1, -Infinity]', "inf-extra"),
     "extra[1] is -Infinity, which JSON does not allow (send null, or leave the field out)"),
    (base(', "extra": 1e999', "huge-number"),
     "extra is 1e999, which JSON does not allow (send null, or leave the field out)"),
    (line(event_id="big", other=BIG), "record is 66,104 bytes, over the limit of 65,536 bytes (64 KiB)"),
    (line(event_id="deep", metadata=DEEP9), "metadata is nested 9 levels deep, more than the 8 allowed"),
]


def test_bad_record_byte_sizes_as_worked_out():
    # the size reason above: 66,000 x's plus 104 bytes of text around them (20 + 35 + 37 + 12)
    big = next(raw for raw, reason in BAD if "64 KiB" in reason)
    assert len(big) == 66_000 + len('{"event_id": "big", "event_type": "artifact_received", '
                                    '"timestamp": "2026-02-16T14:00:00Z", "other": ""}')


def test_thousand_valid_and_one_of_each_bad_kind_land_exactly_the_thousand(lake, tmp_path):
    # BOM at the start, \r\n line ends, the bad records in the middle of the good ones
    good_lines = [json.dumps(good(i)).encode() for i in range(1000)]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(
        good_lines[:500] + [raw for raw, _ in BAD] + good_lines[500:]) + b"\r\n")
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1000, len(BAD))
    assert [i for (i,) in stored(lake)] == sorted(f"ok-{i}" for i in range(1000))
    rows = quarantine(lake)
    assert sorted(reason for _, reason in rows) == sorted(reason for _, reason in BAD)
    # each kept raw, exactly as sent (bytes that are not UTF-8 in their escaped form)
    by_reason = dict((reason, raw) for raw, reason in rows)
    for raw, reason in BAD:
        kept = by_reason[reason]
        assert codecs.escape_decode(kept.encode())[0] == raw if b"\xff" in raw else kept == raw.decode()


def test_one_bad_element_of_a_json_array_is_quarantined_alone(lake, tmp_path):
    # the issue's cases: a NaN element, a too-deep element, a byte-order mark before the array
    elements = [json.dumps(good(i)) for i in range(1000)]
    elements[10:10] = ["NaN", json.dumps({**good("deep"), "metadata": DEEP9}), "17"]
    path = tmp_path / "array.json"
    path.write_bytes(b"\xef\xbb\xbf[\n  " + ",\n  ".join(elements).encode() + b"\n]\n")
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1000, 3)
    not_object = "record is JSON but not an object; expected one event object per record"
    assert quarantine(lake) == [
        (json.dumps({**good("deep"), "metadata": DEEP9}),
         "metadata is nested 9 levels deep, more than the 8 allowed"),
        ("17", not_object), ("NaN", not_object)]


def test_array_elements_are_cut_at_top_level_commas_only():
    # commas and brackets inside strings (also after an escaped quote) and nested values
    data = rb'[ {"a": "x,]\"}", "b": [1, {"c": 2}]} , "s\\" ,[3,4],{}]'
    assert split_file(data).to_pylist() == [
        rb'{"a": "x,]\"}", "b": [1, {"c": 2}]}', rb'"s\\"', b"[3,4]", b"{}"]
    assert split_file(b"  []  ").to_pylist() == []
    assert split_file(b"[1,]").to_pylist() == [b"1", b""]  # the empty element: quarantined raw


@pytest.mark.parametrize("text", [
    '[{"event_id": "a"}, {"event_id": ',   # cut short
    '[{"a": "never closed}]',              # a string never ends
    '[{"a": 1}] trailing',                 # something after the closing bracket
    '[{"a": 1}]]',                         # one bracket too many
])
def test_array_that_does_not_parse_is_kept_whole(lake, tmp_path, text):
    path = tmp_path / "broken.json"
    path.write_text(text)
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (0, 1)
    assert quarantine(lake) == [(text, "record is not valid JSON")]


def test_a_lone_surrogate_escape_is_named_as_such_not_as_invalid_json(lake, tmp_path):
    # "\ud800" is valid JSON syntax and no Unicode character: it was quarantined as "record is
    # not valid JSON", which sent its producer looking for a syntax error that is not there
    head = '{"event_type": "artifact_received", "timestamp": "2026-02-16T13:00:00Z", '
    lines = [
        head + '"event_id": "s1", "artifact_id": "a\\ud800"}',
        head + '"event_id": "s2", "metadata": {"x": ["a", "\\udfff"]}}',
        head + '"event_id": "s3", "metadata": {"k\\udc00": 1}}',
        head + '"event_id": "s4", "artifact_id": "\\ud83d\\ude00"}',
        '{"event_id": "s5" "event_type": "x"}',
    ]
    path = tmp_path / "surrogates.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1, 4)  # the pair is one character: kept
    fix = ("which is no Unicode character: the record is valid JSON syntax but not valid text "
           "(send the character itself, or both escapes of its pair, e.g. \\ud83d\\ude00)")
    assert sorted(quarantine(lake)) == sorted([
        (lines[0], f"artifact_id holds a lone surrogate escape (\\ud800), {fix}"),
        (lines[1], f"metadata.x[1] holds a lone surrogate escape (\\udfff), {fix}"),
        (lines[2], f"a key in metadata holds a lone surrogate escape (\\udc00), {fix}"),
        (lines[4], "record is not valid JSON"),
    ])


def test_lines_end_with_crlf_and_a_bom_costs_nothing():
    assert split_file(b"\xef\xbb\xbf{}\r\n{ }\r\n\r\n \t\r\n[]x\r\n").to_pylist() == [
        b"{}", b"{ }", b"[]x"]


def test_a_pretty_printed_object_is_one_record_and_json_lines_stay_lines():
    # split into its lines, a pretty-printed event was a quarantined scrap per line
    pretty = json.dumps({**good("p"), "metadata": {"claim_count": 2}}, indent=2).encode()
    assert len(pretty.splitlines()) == 8
    assert split_file(pretty).to_pylist() == [pretty]
    crlf = pretty.replace(b"\n", b"\r\n")  # with a BOM, blank lines around it
    assert split_file(b"\xef\xbb\xbf\r\n" + crlf + b"\r\n\r\n").to_pylist() == [crlf]
    # a broken first line before JSON Lines: each line its own record, as before
    assert split_file(b"{\n" + line() + b"\n" + line() + b"\n").to_pylist() == [
        b"{", line(), line()]
    # two pretty-printed objects are not one: their lines, as before
    assert split_file(pretty + b"\n" + pretty).to_pylist() == pretty.splitlines() * 2


def test_a_pretty_printed_event_lands_as_one_event_and_a_bad_one_is_quarantined_whole(
        lake, tmp_path):
    pretty = json.dumps({**good("p"), "metadata": {"claim_count": 2}}, indent=2)
    path = tmp_path / "pretty.jsonl"
    path.write_text(pretty + "\n")
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1, 0)
    assert stored(lake, "event_id, claim_count") == [("ok-p", 2)]
    bad = json.dumps({**good("q"), "event_type": "artifact_recieved"}, indent=2)
    path.write_text(bad)
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (0, 1)
    assert [raw for raw, _ in quarantine(lake)] == [bad]


def test_invalid_utf8_only_costs_its_own_line(lake, tmp_path):
    # 5,000 lines (more than one chunk of the UTF-8 check), two of them broken
    lines = [json.dumps(good(i)).encode() for i in range(5000)]
    lines[4] = b'{"event_id": "\xc3\x28"}'  # a broken two-byte sequence
    lines[4500] = b"\x80 tail"
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (4998, 2)
    assert quarantine(lake) == [
        ("\\x80 tail", "record is not valid UTF-8 (byte 0x80 at offset 0, kept in raw as \\xNN)"),
        ('{"event_id": "\\xc3(\"}', "record is not valid UTF-8 (byte 0xc3 at offset 14, kept in raw as \\xNN)")]


def test_limits_themselves_are_accepted(lake):
    # exactly 2000-01-01T00:00:00Z (both forms), metadata 8 levels deep, 65,536 bytes
    pad = 65_536 - len(line(event_id="max", pad=""))
    records = [line(event_id="t-iso", timestamp="2000-01-01T00:00:00Z"),
               line(event_id="t-ms", timestamp=946684800000,
                    stage_started_at="2000-01-01T01:00:00+01:00"),
               line(event_id="meta8", metadata=DEEP8),
               line(event_id="max", pad="p" * pad)]
    assert len(records[-1]) == 65_536
    result = land_lines(lake, records, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (4, 0)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    assert stored(lake, "event_id, timestamp, stage_started_at, metadata") == [
        ("max", T_DT, None, None),
        ("meta8", T_DT, None, json.dumps(DEEP8, separators=(",", ":"))),
        ("t-iso", start, None, None),
        ("t-ms", start, start, None)]


def test_identifier_control_characters_but_not_in_messages(lake):
    records = [line(event_id="tab", coach_user_id="c\t1"), line(event_id="voice", voice_note_id="v\u001f"),
               line(event_id="msg", error_message="line 1\nline 2\ttab")]
    result = land_lines(lake, records, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (1, 2)
    assert stored(lake, "event_id, error_message") == [("msg", "line 1\nline 2\ttab")]
    assert [reason for _, reason in quarantine(lake)] == [
        'coach_user_id "c\\t1" contains a control character (U+0000 to U+001F); identifiers must not',
        # the value is shown as DuckDB writes JSON: compact, \\u escapes in upper case
        'voice_note_id "v\\u001F" contains a control character (U+0000 to U+001F); identifiers '
        "must not"]


OTHER_CONTROL = ("contains a control character or line separator (U+007F to U+009F, U+2028, "
                 "U+2029); identifiers must not")


def test_del_c1_controls_and_line_separators_in_identifiers_are_refused(lake, tmp_path):
    # JSON lets these stand raw (unescaped), so they reach the parser as they are: DEL, NEL
    # (U+0085, a newline), CSI (U+009B, which starts a terminal escape) and U+2028/U+2029.
    # Accented letters, dashes and signs (é, —, €) stay fine. Same rule for a file's JSON
    # lines, a Parquet file and a producer's dicts.
    bad = {"del": "x\x7f", "nel": "x\x85", "csi": "x\x9b", "ls": "x\u2028", "ps": "x\u2029"}
    bad = {k: v.encode().decode("unicode_escape") for k, v in bad.items()}
    records = [f'{{"event_id": "j-{k}", "event_type": "artifact_received", "timestamp": '
               f'"{T}", "organization_id": "{v}"}}'.encode() for k, v in bad.items()]
    records.append(line(event_id="j-ok", organization_id="Café — 5 €"))
    result = land_lines(lake, records, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (1, 5)
    reasons = [reason for _, reason in quarantine(lake)]
    assert len(reasons) == 5 and all(r.startswith('organization_id "x') for r in reasons)
    assert all(r.endswith(OTHER_CONTROL) for r in reasons)
    table = pa.table({"eventId": [f"p-{k}" for k in bad] + ["p-ok"],
                      "eventType": ["artifact_received"] * 6,
                      "timestamp": pa.array([T_DT] * 6, pa.timestamp("ms", tz="UTC")),
                      "artifactId": [*bad.values(), "é"]})
    pq.write_table(table, tmp_path / "in.parquet")
    assert ingest_file(lake, tmp_path / "in.parquet", now=NOW).quarantined == 5
    dicts = [{"event_id": f"d-{k}{v}", "event_type": "artifact_received", "timestamp": T}
             for k, v in bad.items()]
    result = land_records(lake, dicts, now=NOW)
    assert (result.accepted, result.quarantined) == (0, 5)
    assert sorted(r[0] for r in stored(lake, "event_id")) == ["j-ok", "p-ok"]


def test_del_c1_controls_and_line_separators_are_escaped_in_the_reason(lake, tmp_path):
    """The reason quoted such an id raw, invisible in a terminal ('organization_id "x" contains a
    control character...'), where NUL or a tab show as JSON escapes (\\u001F, \\t). Now they
    are escaped alike, in upper case as DuckDB writes \\u001F; the raw record is kept as it came.
    Same for a file's JSON lines, a Parquet file and a producer's dicts."""
    bad = {"del": ("x\x7f", "x\\u007F"), "nel": ("x\x85", "x\\u0085"),
           "csi": ("x\x9b", "x\\u009B"), "ls": ("x\u2028", "x\\u2028"),
           "ps": ("x\u2029", "x\\u2029")}
    records = [f'{{"event_id": "j-{k}", "event_type": "artifact_received", "timestamp": '
               f'"{T}", "organization_id": "{raw}"}}'.encode() for k, (raw, _) in bad.items()]
    assert land_lines(lake, records, "test", now=NOW).quarantined == 5
    table = pa.table({"eventId": [f"p-{k}" for k in bad], "eventType": ["artifact_received"] * 5,
                      "timestamp": pa.array([T_DT] * 5, pa.timestamp("ms", tz="UTC")),
                      "artifactId": [raw for raw, _ in bad.values()]})
    pq.write_table(table, tmp_path / "in.parquet")
    assert ingest_file(lake, tmp_path / "in.parquet", now=NOW).quarantined == 5
    dicts = [{"event_id": f"d-{k}", "event_type": "artifact_received", "timestamp": T,
              "coach_user_id": raw} for k, (raw, _) in bad.items()]
    assert land_records(lake, dicts, now=NOW).quarantined == 5
    got = quarantine(lake)
    expected = sorted(
        [f'{field} "{shown}" {OTHER_CONTROL}' for field in
         ("organization_id", "artifact_id", "coach_user_id") for _, shown in bad.values()])
    assert sorted(reason for _, reason in got) == expected
    # the raw JSON lines kept byte for byte (DEL and the others as sent)
    kept = {raw for raw, _ in got}
    assert {r.decode() for r in records} <= kept


def test_counts_and_numbers_too_large_to_sum_are_refused(lake, tmp_path):
    # two claim_counts of 2^63 - 1 were stored, and their sum failed the hour's rollup (a
    # BIGINT overflow); two durations of 1e308 summed to infinity. Bounds: a count at most
    # 2^31 - 1 (2,147,483,647), a number at most 1e300.
    records = [
        line(event_id="c-max", metadata={"claim_count": 2147483647}, duration_ms=1e300),
        line(event_id="c-over", metadata={"claim_count": 2147483648}),
        line(event_id="d-over", duration_ms=1.0000000000000001e300 * 2),
        line(event_id="cost-huge", metadata={"aiCost": 1e308}),
    ]
    result = land_lines(lake, records, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (1, 3)
    assert sorted(reason for _, reason in quarantine(lake)) == [
        "duration_ms 2e300 is over 1e300, more than one event may carry",
        "metadata.ai_cost_usd 1e308 is over 1e300, more than one event may carry",
        "metadata.claim_count 2147483648 is over 2,147,483,647, more than one event may carry"]
    # the same bounds for a Parquet file and a producer's dicts
    table = pa.table({"eventId": ["p-ok", "p-over"], "eventType": ["artifact_received"] * 2,
                      "timestamp": pa.array([T_DT] * 2, pa.timestamp("ms", tz="UTC")),
                      "retry_attempt": pa.array([3, 2**40], pa.int64())})
    pq.write_table(table, tmp_path / "in.parquet")
    assert ingest_file(lake, tmp_path / "in.parquet", now=NOW).quarantined == 1
    dicts = [{**good("m-ok"), "metadata": {"draft_count": 5}},
             {**good("m-over"), "metadata": {"draft_count": 2**31}}]
    assert land_records(lake, dicts, now=NOW).quarantined == 1
    assert sorted(r[0] for r in stored(lake, "event_id")) == ["c-max", "ok-m-ok", "p-ok"]


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 2**64, 10**30])
def test_a_count_beyond_bigint_is_over_the_bound_on_every_path(lake, tmp_path, value):
    # 2^31..2^63-1 was refused as "is over 2,147,483,647"; from 2^63 on the count did not fit
    # a BIGINT and was refused as "must be a whole number >= 0", which it is. The same bound
    # names it now, from a file, a Parquet column (uint64 up to 2^64-1) and a producer's dict.
    expected = (f"metadata.claim_count {value} is over 2,147,483,647, more than one event may "
                "carry")
    result = land_lines(lake, [line(event_id="j", metadata={"claim_count": value})], "test",
                        now=NOW)
    assert (result.accepted, result.quarantined) == (0, 1)
    dicts = [{**good("d"), "metadata": {"claim_count": value}}]
    assert land_records(lake, dicts, now=NOW).quarantined == 1
    paths = 2
    if value < 2**64:
        table = pa.table({"eventId": ["p"], "eventType": ["artifact_received"],
                          "timestamp": pa.array([T_DT], pa.timestamp("ms", tz="UTC")),
                          "claim_count": pa.array([value], pa.uint64())})
        pq.write_table(table, tmp_path / "in.parquet")
        assert ingest_file(lake, tmp_path / "in.parquet", now=NOW).quarantined == 1
        paths = 3
    con = connect()
    try:
        rows = con.execute("select reason, reason_category from read_parquet($f)",
                           {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchall()
    finally:
        con.close()
    assert rows == [(expected, "bad_number")] * paths
    assert not list(lake.events_dir.rglob("*.parquet"))


def test_repeated_key_inside_metadata_and_at_top_level_same_rule(lake):
    records = [base(', "timestamp": "2026-02-16T14:01:00Z"', "dup-ts"),
               base(', "metadata": {"a": 1, "a": 2}', "dup-meta"),
               base(', "metadata": {"a": {"b": 1, "b": 2}}', "nested-dup")]
    result = land_lines(lake, records, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (1, 2)
    assert sorted(reason for _, reason in quarantine(lake)) == [
        'metadata {"a":1,"a":2} repeats a key', 'record repeats the top-level key "timestamp"']
    # deeper down a repeated key is not checked: it is kept as sent, not collapsed
    assert stored(lake, "event_id, metadata") == [("nested-dup", '{"a":{"b":1,"b":2}}')]


def test_parquet_rows_follow_the_same_rules(lake, tmp_path):
    table = pa.table({
        "eventId": ["p-ok", "p-nan", "p-1970", "p-meta-nan", "p-nul"],
        "eventType": ["artifact_received"] * 5,
        "timestamp": pa.array([T_DT, T_DT, datetime(1970, 1, 1, tzinfo=UTC), T_DT, T_DT],
                              pa.timestamp("ms", tz="UTC")),
        "durationMs": [1.5, float("nan"), None, None, None],
        "metadata": ['{"k": 1}', None, None, '{"y": NaN}', None],
        "artifactId": [None, None, None, None, "a\x00b"],
    })
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1, 4)
    assert stored(lake, "event_id, duration_ms, metadata") == [("p-ok", 1.5, '{"k":1}')]
    assert sorted(reason for _, reason in quarantine(lake)) == [
        'artifact_id "a\\u0000b" contains a control character (U+0000 to U+001F); identifiers '
        "must not",
        "duration_ms NaN must be a finite number >= 0",
        "metadata.y is NaN, which JSON does not allow (send null, or leave the field out)",
        'timestamp "1970-01-01T00:00:00Z" is out of range: before 2000-01-01T00:00:00Z']


def test_a_parquet_time_in_a_reason_is_iso_text(lake, tmp_path):
    """A reason quoted a Parquet timestamp as DuckDB writes it, '1999-12-31 23:59:59.5+00', and
    a naive one as '2026-02-16 12:00:00': now ISO-8601, UTC with Z (from any zone), as precise
    as the column's unit, and a naive one without Z (it is refused as naive)."""
    ns = pa.array([datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)],
                  pa.timestamp("ns", tz="+05:00"))  # shown in UTC, not at +05:00
    ms = pa.array([datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)], pa.timestamp("ms", tz="UTC"))
    naive = pa.array([datetime(2026, 2, 16, 12)], pa.timestamp("us"))
    for i, column in enumerate([ns, ms, naive]):
        pq.write_table(pa.table({"event_id": [f"t{i}"], "event_type": ["artifact_received"],
                                 "timestamp": column}), tmp_path / f"t{i}.parquet")
        assert ingest_file(lake, tmp_path / f"t{i}.parquet", now=NOW).quarantined == 1
    assert sorted(reason for _, reason in quarantine(lake)) == [
        'timestamp "1999-12-31T23:59:59.500000000Z" is out of range: before 2000-01-01T00:00:00Z',
        'timestamp "1999-12-31T23:59:59Z" is out of range: before 2000-01-01T00:00:00Z',
        'timestamp "2026-02-16T12:00:00" has no UTC offset (add \'Z\' or \'+HH:MM\')']


def _land_four_ways(tmp_path, records: list[dict], parquet: pa.Table) -> tuple[dict, dict]:
    """`records` landed from a JSON Lines file, `parquet` (the same records typed) from a Parquet
    file, `records` through a Producer and through the collector, each into its own lake: the
    lakes by way, and the collector's answer."""
    from fastapi.testclient import TestClient

    from voice_monitor.server import create_app

    text = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    lakes = {how: Lake(tmp_path / how) for how in ("file", "parquet", "python", "collector")}
    (tmp_path / "in.jsonl").write_bytes(text)
    ingest_file(lakes["file"], tmp_path / "in.jsonl", now=NOW)
    pq.write_table(parquet, tmp_path / "in.parquet")
    ingest_file(lakes["parquet"], tmp_path / "in.parquet", now=NOW)
    with Producer(lakes["python"], now=NOW) as producer:
        for record in records:
            producer.emit(record)
    token = "ingest-0123456789abcdef"
    with TestClient(create_app(lakes["collector"], ingest_tokens=[token])) as http:
        answer = http.post("/v1/events", content=text, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    return lakes, answer.json()


EMPTY_ORG = 'organization_id "" is empty; leave it out (or send null) for no organization'


def test_an_empty_organization_id_is_refused_alike_from_a_file_parquet_python_and_the_collector(
        tmp_path):
    # contract §3: organization_id absent or null is no organization; "" landed as an
    # organization no read can name (reads refuse organization_id '')
    records = [{**good(1), "organization_id": ""}, {**good(2), "organizationId": ""},
               {**good(3), "organization_id": None}, {**good(4), "organization_id": "org-a"}]
    lakes, answer = _land_four_ways(tmp_path, records, pa.table({
        "event_id": [r["event_id"] for r in records],
        "event_type": ["artifact_received"] * 4,
        "timestamp": pa.array([T_DT] * 4, pa.timestamp("ms", tz="UTC")),
        "organization_id": ["", "", None, "org-a"]}))
    assert answer == {"accepted": 2, "duplicates": 0, "quarantined": 2}
    for how, lake in lakes.items():
        assert stored(lake, "event_id, organization_id") == [("ok-3", None), ("ok-4", "org-a")], how
        assert [reason for _, reason in quarantine(lake)] == [EMPTY_ORG, EMPTY_ORG], how


def _empty(name: str, absent: str) -> str:
    return f'{name} "" is empty; leave it out (or send null) for no {absent}'


def test_empty_artifact_voice_note_and_coach_user_ids_are_refused_alike_everywhere(tmp_path):
    # reads refuse '' as an id (arguments.identifier: artifact_timeline(''), --org ''), so an
    # event stored with artifact_id "" could never be looked up: quarantined as organization_id
    # "" is, from a file, Parquet, the producer and the collector alike
    ids = [{"artifact_id": ""}, {"voice_note_id": ""}, {"coach_user_id": ""},
           {"artifact_id": None, "voice_note_id": None, "coach_user_id": None},
           {"artifact_id": "a-5", "voice_note_id": "v-5", "coach_user_id": "c-5"}]
    records = [{**good(i), **fields} for i, fields in enumerate(ids, 1)]
    # and in camelCase
    records += [{**good(6), "artifactId": ""}, {**good(7), "voiceNoteId": ""},
                {**good(8), "coachUserId": ""}]
    columns = {name: [f.get(name) for f in ids] + [f.get(name) for f in ids[:3]]
               for name in ("artifact_id", "voice_note_id", "coach_user_id")}
    lakes, answer = _land_four_ways(tmp_path, records, pa.table({
        "event_id": [f"ok-{i}" for i in range(1, 9)],
        "event_type": ["artifact_received"] * 8,
        "timestamp": pa.array([T_DT] * 8, pa.timestamp("ms", tz="UTC")),
        **{name: pa.array(values, pa.string()) for name, values in columns.items()}}))
    assert answer == {"accepted": 2, "duplicates": 0, "quarantined": 6}
    refused = [_empty("artifact_id", "artifact")] * 2 + [_empty("coach_user_id", "coach user")] * 2 \
        + [_empty("voice_note_id", "voice note")] * 2
    for how, lake in lakes.items():
        assert stored(lake, "event_id, artifact_id, voice_note_id, coach_user_id") == [
            ("ok-4", None, None, None), ("ok-5", "a-5", "v-5", "c-5")], how
        assert [reason for _, reason in quarantine(lake)] == refused, how


def test_lower_case_t_and_z_land_alike_from_a_file_parquet_python_and_the_collector(tmp_path):
    # RFC 3339 (5.6) allows 't' and 'z', and `--now` took them; an event with them was
    # quarantined "not ... an ISO-8601 date-time with 'Z'" (DuckDB's cast takes upper case only)
    texts = ["2026-02-16t14:00:00z", "2026-02-16T14:00:01z", "2026-02-16t15:00:02+01:00",
             "2026-02-16t13:59:60z", "2026-02-16t14:00:03", "20260216T140004Z"]
    records = [{**good(i), "timestamp": text, "stage_started_at": text}
               for i, text in enumerate(texts, 1)]
    lakes, answer = _land_four_ways(tmp_path, records, pa.table({
        "event_id": [r["event_id"] for r in records],
        "event_type": ["artifact_received"] * len(texts),
        "timestamp": texts, "stage_started_at": texts}))
    assert answer == {"accepted": 4, "duplicates": 0, "quarantined": 2}
    # 14:00:00, 14:00:01, 15:00:02 at +01:00 = 14:00:02, a leap second = 13:59:59.999999
    at = [T_DT, T_DT.replace(second=1), T_DT.replace(second=2),
          datetime(2026, 2, 16, 13, 59, 59, 999999, tzinfo=UTC)]
    for how, lake in lakes.items():
        assert stored(lake, "event_id, timestamp, stage_started_at") == [
            (f"ok-{i}", moment, moment) for i, moment in enumerate(at, 1)], how
        assert [reason for _, reason in quarantine(lake)] == [
            'timestamp "2026-02-16t14:00:03" has no UTC offset (add \'Z\' or \'+HH:MM\'); '
            'stage_started_at "2026-02-16t14:00:03" has no UTC offset (add \'Z\' or \'+HH:MM\')',
            'timestamp "20260216T140004Z" is not epoch milliseconds or an ISO-8601 date-time '
            "with 'Z' or an offset; stage_started_at \"20260216T140004Z\" is not epoch "
            "milliseconds or an ISO-8601 date-time with 'Z' or an offset"], how


# -- Python mappings: land_records and the producer -------------------------------------------

ODD = [
    # NaN/Infinity: a file's reason for the same value (a number field's rule, else JSON's)
    ({**good("nan"), "duration_ms": float("nan")}, "duration_ms NaN must be a finite number >= 0"),
    ({**good("inf"), "metadata": {"cost": float("-inf")}},
     "metadata.cost is -Infinity, which JSON does not allow (send null, or leave the field out)"),
    ({**good("bytes"), "error_code": b"E1"}, "error_code is bytes, not JSON; send text (decode the bytes)"),
    ({**good("set"), "metadata": {"tags": {"a"}}}, "metadata.tags is a set, not JSON; send a list"),
    ({**good("key"), "metadata": {1: "one"}},
     "metadata has the key 1 of type int; JSON keys are strings"),
    ({**good("surrogate"), "artifact_id": "a\udc80"},
     "artifact_id is not valid UTF-8 (it holds a lone surrogate)"),
    ({**good("y0"), "timestamp": "0001-01-01T00:30:00+01:00"},
     'timestamp "0001-01-01T00:30:00+01:00" is out of range: before 2000-01-01T00:00:00Z'),
]


def test_land_records_refuses_what_json_cannot_hold_and_lands_the_rest(lake):
    result = land_records(lake, [good(1), *(r for r, _ in ODD), good(2)], now=NOW)
    assert (result.accepted, result.quarantined) == (2, len(ODD))
    assert stored(lake) == [("ok-1",), ("ok-2",)]
    rows = quarantine(lake)
    assert sorted(reason for _, reason in rows) == sorted(reason for _, reason in ODD)
    raw_of = {reason: raw for raw, reason in rows}
    assert raw_of[ODD[2][1]] == repr(ODD[2][0])  # a Python object is kept as its repr
    assert json.loads(raw_of[ODD[6][1]]) == ODD[6][0]  # a JSON-able one as its JSON text


def test_a_nan_has_the_same_reason_from_a_file_and_from_python(tmp_path):
    # contract §3: the producer applies exactly the same rules as a file; the same NaN was
    # "must be a finite number >= 0" in a file and "is NaN, which JSON does not allow" from Python
    nan, inf = float("nan"), float("inf")
    records = [{**good("a"), "duration_ms": nan}, {**good("b"), "metadata": {"ai_cost_usd": inf}},
               {**good("c"), "metadata": {"note": nan}}]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([base(', "duration_ms": NaN', "ok-a"),
                                  base(', "metadata": {"ai_cost_usd": Infinity}', "ok-b"),
                                  base(', "metadata": {"note": NaN}', "ok-c")]) + b"\n")
    from_file, from_python = Lake(tmp_path / "file"), Lake(tmp_path / "python")
    ingest_file(from_file, path, now=NOW)
    land_records(from_python, records, now=NOW)
    expected = [  # a number field's own rule; a field with none: JSON's
        "duration_ms NaN must be a finite number >= 0",
        "metadata.ai_cost_usd Infinity must be a finite number >= 0",
        "metadata.note is NaN, which JSON does not allow (send null, or leave the field out)"]
    assert [reason for _, reason in quarantine(from_file)] == expected
    assert [reason for _, reason in quarantine(from_python)] == expected


def test_producer_memory_mode_same_rules(lake):
    with Producer(lake, now=NOW) as producer:
        for record in [good(1), *(r for r, _ in ODD), good(2)]:
            producer.emit(record)
    assert stored(lake) == [("ok-1",), ("ok-2",)]
    assert sorted(reason for _, reason in quarantine(lake)) == sorted(reason for _, reason in ODD)
    assert (producer.stats.accepted, producer.stats.quarantined) == (2, len(ODD))


def test_durable_spool_with_bad_records_is_never_wedged(lake):
    # the spool a crashed producer left: records that cannot land and a torn last line
    spool = lake.state_dir / "spool" / "default"
    with Producer(lake, durable=True, now=NOW, flush_interval=3600) as producer:
        for record in [good(1), *(r for r, _ in ODD)]:
            producer.emit(record)
        # the segment is written; copy it aside as if the producer had been killed here
        leftover = sorted(spool.glob("*.jsonl"))[0].read_bytes()
    (spool / "00000000000000000001-1-000001.jsonl").write_bytes(
        leftover + json.dumps(good(2)).encode() + b"\n" + b"\xff\xfe torn" + b'\n{"event_id": "cut')
    for _ in range(2):  # the restart lands it; a second restart finds nothing left to land
        with Producer(lake, durable=True, now=NOW):
            pass
    assert list(spool.glob("*.jsonl")) == []
    assert stored(lake) == [("ok-1",), ("ok-1",), ("ok-2",)]  # ok-1 twice: at-least-once
    reasons = sorted(reason for _, reason in quarantine(lake))
    assert reasons == sorted([reason for _, reason in ODD] * 2 + [
        "record is not valid JSON", "record is not valid UTF-8 (byte 0xff at offset 0, kept in raw as \\xNN)"])


def test_a_record_that_breaks_validation_itself_is_quarantined_alone(lake, monkeypatch):
    # validation failing on one record (a bug we do not know of yet) must not take the others down
    real = landing.validate

    def flaky(con, lines, now, ingested_at):
        texts = lines.to_pylist() if isinstance(lines, pa.Array) else lines
        if any(isinstance(t, str) and "poison" in t for t in texts):
            raise ValueError("cannot handle poison")
        return real(con, lines, now, ingested_at)

    monkeypatch.setattr(landing, "validate", flaky)
    lines = [json.dumps(good(i)) for i in range(7)]
    lines.insert(3, json.dumps(good("poison")))
    result = land_lines(lake, lines, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (7, 1)
    assert quarantine(lake) == [(json.dumps(good("poison")),
                                 "record could not be validated (ValueError: cannot handle poison); "
                                 "please report it")]


def test_docs_describe_the_invalid_utf8_form():
    text = (Path(__file__).parent.parent / "docs" / "landing.md").read_text()
    assert "codecs.escape_decode" in text


# a JSON array written on one line of JSON Lines: its elements are records of their own (§3),
# as a file's array's are; one that does not balance stays one raw record; `[]` holds none
LINE_ARRAYS = [
    json.dumps(good(0)),
    "[" + ", ".join([json.dumps(good(1)), json.dumps(good(2)), "17"]) + "]",
    "  []",
    '[{"event_id": "cut", ',
    json.dumps(good(3)),
]
LINE_ARRAYS_QUARANTINED = [
    ("17", "record is JSON but not an object; expected one event object per record"),
    ('[{"event_id": "cut", ', "record is not valid JSON")]


def test_an_array_on_one_line_of_json_lines_is_split_into_its_elements():
    assert split_file(("\n".join(LINE_ARRAYS) + "\n").encode()).to_pylist() == [
        json.dumps(good(0)).encode(), json.dumps(good(1)).encode(), json.dumps(good(2)).encode(),
        b"17", b'[{"event_id": "cut", ', json.dumps(good(3)).encode()]
    # \r\n line ends, blanks and a line array with blanks before it
    assert split_file(b'{"a": 1}\r\n\r\n \t[{"b": 2},{"c": 3} ]\r\n').to_pylist() == [
        b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


def test_many_blank_lines_are_read_as_a_few_are():
    """Over 64 lines that start blank, `[` or with a byte-order mark are looked at in Arrow at
    once (a body of 16 MiB of newlines took the collector ~20 s of CPU, one Python call a line):
    the same records as the few looked at one by one (test above)."""
    blanks = b"\n" * 100 + b" \t\r\n" * 50 + b"   \n" * 20
    assert split_file(b'{"a": 1}\n' + blanks + b'{"b": 2}\n' + blanks).to_pylist() == [
        b'{"a": 1}', b'{"b": 2}']
    assert split_file(blanks + b' \t[{"c": 3}, {"d": 4}]\n' + blanks + b'{"e": 5}').to_pylist() == [
        b'{"c": 3}', b'{"d": 4}', b'{"e": 5}']
    bom = b"\xef\xbb\xbf"
    assert split_file(bom + b'{"f": 6}\n' + blanks + bom + b'{"g": 7}\n').to_pylist() == [
        b'{"f": 6}', b'{"g": 7}']
    assert split_file(blanks).to_pylist() == []


def test_json_lines_whose_first_line_is_an_array_are_json_lines_not_one_broken_array():
    # starting with `[`, the whole input was read as one array: it does not balance (a second
    # line follows), so all of it was one raw record; a broken array stays one, as before
    assert split_file(b'[{"a": 1}, {"b": 2}]\n{"c": 3}\n').to_pylist() == [
        b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']
    assert split_file(b'\xef\xbb\xbf \r\n[1]\r\n[2, 3]\r\n').to_pylist() == [b"1", b"2", b"3"]
    for broken in (b'[\n{"a": 1},\n{"b": \n', b'[{"a": 1}] trailing\n{"b": 2}\n'):
        assert split_file(broken).to_pylist() == [broken]


@pytest.mark.parametrize("array_first", [False, True])
@pytest.mark.parametrize("how", ["ingest_file", "land_lines", "land_lines_bytes"])
def test_an_array_on_one_line_lands_its_elements_alone(lake, tmp_path, how, array_first):
    # it was quarantined whole ("not an object"), its good events with it; as the first line
    # of a file, the whole file was one raw record
    lines = LINE_ARRAYS[1::-1] + LINE_ARRAYS[2:] if array_first else LINE_ARRAYS
    if how == "ingest_file":
        path = tmp_path / "lines.jsonl"
        path.write_text("\n".join(lines) + "\n")
        result = ingest_file(lake, path, now=NOW)
    else:
        lines = lines if how == "land_lines" else [x.encode() for x in lines]
        result = land_lines(lake, lines, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (4, 2)
    assert stored(lake) == [("ok-0",), ("ok-1",), ("ok-2",), ("ok-3",)]
    assert quarantine(lake) == LINE_ARRAYS_QUARANTINED
