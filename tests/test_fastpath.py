"""The typed fast path plus the full-query fallback judge exactly as the full query alone:
the same records accepted, stored with the same values; the same rejected, with the same reasons.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import duckdb
import faultgen as fg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor import landing
from voice_monitor.fastpath import validate_fast
from voice_monitor.lake import Lake, connect
from voice_monitor.typed import TypedRows
from voice_monitor.typed_values import kept_metadata
from voice_monitor.validation import validate

NOW = fg.NOW
# near misses the fast parser must not coerce: "12" for a number, 1.5 and 1.0 for an integer,
# booleans, -0 and -0.0, huge and tiny doubles, epoch ms beside ISO, a second object on a line
TWISTS = [
    ("durationMs", "12"), ("duration_ms", True), ("duration_ms", -0), ("duration_ms", -0.0),
    ("duration_ms", 2.0 ** 60), ("duration_ms", 5e-324), ("duration_ms", 7),
    ("timestamp", 1771250000000), ("timestamp", "2026-02-16T14:00:00"), ("stageStartedAt", 17),
    ("eventId", 5), ("eventType", None), ("organizationId", "x" * 257), ("pipelineStage", "ingestion"),
]
META_TWISTS = [("claimCount", 1.5), ("claimCount", 1.0), ("claim_count", "3"), ("aiCost", False),
               ("confidenceScore", 1), ("retryAttempt", -1), ("note", None), ("claimCount", None)]


def _twisted(rng: random.Random, marker: str) -> bytes:
    rec = fg.valid_record(rng, marker)
    for key, value in rng.sample(TWISTS, rng.randint(1, 2)):
        rec[key] = value
    if rng.random() < 0.5:
        meta = rec.get("metadata") or {}
        key, value = rng.choice(META_TWISTS)
        rec["metadata"] = {**meta, key: value}
    text = json.dumps(rec, ensure_ascii=False)
    return (text + " " + text if rng.random() < 0.05 else text).encode()


def _record(rng: random.Random, kind: int, n: int) -> bytes:
    marker = fg.marker(n)
    if kind == 0:
        return json.dumps(fg.valid_record(rng, marker), ensure_ascii=False).encode()
    if kind == 1:
        return _twisted(rng, marker)
    return rng.choice(fg.BAD_CLASSES).make(rng, marker)


@st.composite
def batches(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    kinds = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=1, max_size=160))
    rng = random.Random(seed)
    records = [_record(rng, kind, i) for i, kind in enumerate(kinds)]
    if draw(st.booleans()):  # copies: first landed wins, in input order
        records += [records[i] for i in draw(st.lists(st.integers(0, len(records) - 1), max_size=5))]
    return records


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


@pytest.fixture(scope="module")
def kept_con():
    """One connection for every example, as a producer keeps it: each rule query is planned
    once, then run on batch after batch of other records."""
    con = connect()
    yield con
    con.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(records=batches())
def test_fast_path_judges_as_the_full_query(kept_con, records):
    full = validate(kept_con, pa.array(records, pa.large_binary()), NOW, NOW)
    fast = validate_fast(kept_con, pa.array(records, pa.large_binary()), NOW, NOW)
    assert _rows(fast[1]) == _rows(full[1])  # line_no, raw, reason
    assert fast[0].schema == full[0].schema
    assert _rows(fast[0]) == _rows(full[0])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(records=batches())
def test_the_files_own_text_judges_as_the_full_query(kept_con, records):
    # a JSON Lines batch hands over the file's text of its records (`streaming.LineBatch`): the
    # reader parses that instead of the records joined again, with the same verdicts
    records = [r for r in records if b"\n" not in r]  # (a line holds none)
    joined = pa.py_buffer(b"".join(r + b"\n" for r in records))
    full = validate(kept_con, pa.array(records, pa.large_binary()), NOW, NOW)
    fast = validate_fast(kept_con, pa.array(records, pa.large_binary()), NOW, NOW, joined=joined)
    assert _rows(fast[1]) == _rows(full[1])
    assert fast[0].schema == full[0].schema
    assert _rows(fast[0]) == _rows(full[0])


def test_an_ingested_file_lands_as_the_full_query_lands_its_lines(tmp_path, monkeypatch):
    rng = random.Random(12)
    records = [r for r in (_record(rng, i % 3, i) for i in range(150)) if b"\n" not in r]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(r + b"\n" for r in records))
    lake = Lake(tmp_path / "file")
    landing.ingest_file(lake, path, now=NOW)
    file_rows = _stored(lake)
    monkeypatch.setattr(landing, "validate", validate)
    assert file_rows == _landed(Lake(tmp_path / "full"), records)[2:]
    assert file_rows[0] and file_rows[1]


def test_the_fast_path_takes_the_plain_records(monkeypatch):
    # not a check of results (above) but that the fast path is used at all: the full query
    # sees only the records in doubt
    rng = random.Random(3)
    good = [json.dumps(fg.valid_record(rng, fg.marker(i)), ensure_ascii=False).encode()
            for i in range(300)]
    good = [g for g in good if b"\\" not in g and b"extra" not in g]
    bad = [b'{"eventId": "b1", "eventType": "artifact_received", "timestamp": "2026-02-16T14:00:00Z", '
           b'"durationMs": "12"}']
    seen = []

    def spy(con, lines, now, ingested_at):
        seen.append(len(lines))
        return validate(con, lines, now, ingested_at)

    monkeypatch.setattr("voice_monitor.fastpath.validate", spy)
    con = connect()
    accepted, rejected = validate_fast(con, pa.array(good + bad, pa.large_binary()), NOW, NOW)
    con.close()
    assert accepted.num_rows == len(good)
    assert rejected.column("reason").to_pylist() == ['durationMs "12" must be a finite number >= 0'
                                                      .replace("durationMs", "duration_ms")]
    assert len(good) > 150 and seen and seen[-1] < len(good) // 4  # the failing record, few others


def _landed(lake: Lake, records: list[bytes]) -> tuple:
    result = landing.land_lines(lake, pa.array(records, pa.large_binary()), "t", NOW)
    return result.as_dict(), result.reasons, *_stored(lake)


def _stored(lake: Lake) -> tuple:
    con = duckdb.connect()
    rows = con.execute("select * exclude (ingested_at) from read_parquet($f) order by all",
                       {"f": [str(p) for p in lake.events_dir.rglob("*.parquet")]}).fetchall()
    quarantined = con.execute("select raw, reason from read_parquet($f) order by all",
                              {"f": [str(p) for p in lake.quarantine_dir.rglob("*.parquet")]}).fetchall()
    return rows, quarantined


def test_landed_rows_are_the_same_either_way(tmp_path, monkeypatch):
    rng = random.Random(11)
    records = [_record(rng, i % 3, i) for i in range(150)]
    records += records[:7]  # copies: counted as duplicates either way
    fast = _landed(Lake(tmp_path / "fast"), records)
    monkeypatch.setattr(landing, "validate", validate)
    full = _landed(Lake(tmp_path / "full"), records)
    assert fast[0]["duplicates"] >= 1 and fast[2] and fast[3]
    assert fast[0] == {**full[0], "partitions": fast[0]["partitions"]} and fast[1:] == full[1:]


# Parquet: typed columns judged directly, as the full rules judge each row's JSON text
_T = pa.timestamp("us", tz="UTC")
_MS = 1771250000000
COLUMNS = {
    "eventId": (pa.string(), ["e-1", "e-2", "e-3", "", "x" * 129, "a\x00b", None]),
    "event_type": (pa.string(), ["artifact_received", "transcription_completed", "retry_failed",
                                 "artifact_completed", "bogus", None]),
    "timestamp": (_T, [datetime(2026, 2, 16, 13, 0, 0, 123456, tzinfo=UTC),
                       datetime(1999, 1, 1, tzinfo=UTC), datetime(2026, 2, 16, 15, tzinfo=UTC), None]),
    "stageStartedAt": (pa.int64(), [_MS, 1771250000, -5, None]),
    "stage_completed_at": (pa.string(), ["2026-02-16T13:00:00Z", "2026-02-16T13:00:00", "2026-02-30T00:00:00Z", None]),
    "pipelineStage": (pa.string(), ["transcription", "ingestion", "nowhere", None]),
    "duration_ms": (pa.float64(), [1.5, 0.0, -0.0, -1.0, float("nan"), float("inf"), 2.0 ** 60, None]),
    "claim_count": (pa.int32(), [0, 7, -3, None]),
    "confidenceScore": (pa.float64(), [0.5, 1.0, 1.5, None]),
    "error_message": (pa.string(), ["boom", "Bearer abc123def token=xyz", "é" * 3000, None]),
    "organization_id": (pa.string(), ["org-1", "o\nx", "o" * 257, None]),
    "metadata": (pa.string(), ['{"note": 1, "aiCost": 0.5}', '{"claim_count": 2}', "not json", None]),
    "extra": (pa.float64(), [1.0, float("nan"), None]),
    "flag": (pa.bool_(), [True, None]),
}
META_STRUCT = pa.struct({"claimCount": pa.int64(), "aiCost": pa.float64(), "trace": pa.string()})
META_ROWS = [None, {"claimCount": 1, "aiCost": 0.5, "trace": "t-1"}, {"claimCount": -1},
             {"aiCost": float("nan"), "trace": "t"}, {"claimCount": None, "aiCost": None, "trace": None}]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), names=st.sets(st.sampled_from(sorted(COLUMNS)), min_size=3))
def test_parquet_typed_columns_judge_as_the_json_round_trip(data, names):
    n = data.draw(st.integers(1, 40))
    table = pa.table({name: pa.array([data.draw(st.sampled_from(COLUMNS[name][1])) for _ in range(n)],
                                     COLUMNS[name][0]) for name in sorted(names)})
    if "metadata" in names and data.draw(st.booleans()):  # a struct, as DuckDB writes JSON objects
        rows = [data.draw(st.sampled_from(META_ROWS)) for _ in range(n)]
        table = table.set_column(table.schema.get_field_index("metadata"), "metadata",
                                 pa.array(rows, META_STRUCT))
    con = connect()
    try:
        full = validate(con, TypedRows.json_texts(table), NOW, NOW)
        fast = validate_fast(con, TypedRows(table), NOW, NOW)
    finally:
        con.close()
    assert _rows(fast[1]) == _rows(full[1])
    assert _rows(fast[0]) == _rows(full[0])


def test_clean_parquet_rows_never_become_json(monkeypatch):
    table = pa.table({"eventId": [f"p-{i}" for i in range(100)],
                      "eventType": ["artifact_received"] * 100,
                      "timestamp": pa.array([_MS + i for i in range(100)], pa.int64()),
                      "durationMs": pa.array([float(i) for i in range(100)])})
    monkeypatch.setattr(TypedRows, "json_texts", None)  # would fail if called
    con = connect()
    accepted, rejected = validate_fast(con, TypedRows(table), NOW, NOW)
    con.close()
    assert accepted.column("event_id").to_pylist() == [f"p-{i}" for i in range(100)]
    assert accepted.column("duration_ms").to_pylist() == [float(i) for i in range(100)]
    assert accepted.column("pipeline_stage").to_pylist() == ["ingestion"] * 100
    assert rejected.num_rows == 0


# Values worked out in Arrow (typed_values): each distinct message redacted once, the
# metadata's unknown keys written as JSON text without the rule query
def _same_either_way(full_input, fast_input) -> tuple[pa.Table, pa.Table]:
    """The fast path's (accepted, rejected), checked equal to the full query's; none rejected."""
    con = connect()
    try:
        full = validate(con, full_input, NOW, NOW)
        fast = validate_fast(con, fast_input, NOW, NOW)
    finally:
        con.close()
    assert _rows(fast[1]) == _rows(full[1]) == []
    assert _rows(fast[0]) == _rows(full[0])
    return fast


def _event(i: int, **extra) -> dict:
    return {"eventId": f"k-{i}", "eventType": "transcription_completed",
            "timestamp": "2026-02-16T13:00:00Z", **extra}


ODD_METADATA = [
    {"claimCount": 2, "trace": "t-1"}, {"trace": "é/</x ~日本"}, {"trace": ""}, {"trace": None},
    {"trace": "a", "span": "b"}, {"span": "b", "trace": "a"}, {"aiModel": "trace"}, {"trace": 5},
    {"trace": {"deep": 1}}, {"claimCount": 1}, {"trace": "token=abc123"}, None,
]
MESSAGES = ["upstream timed out (Bearer abc123def)", "plain failure", "token=xyz then Bearer q",
            "x" * 1990 + " Bearer abcdefghijkl", "mail ops@example.com"]


def test_arrow_values_are_the_full_query_values():
    records = []
    for i in range(120):
        rec = _event(i, metadata=ODD_METADATA[i % len(ODD_METADATA)])
        if i % 3 == 0:
            rec = {**rec, "eventType": "transcription_failed", "errorCode": "E_TIMEOUT",
                   "errorMessage": MESSAGES[i % len(MESSAGES)]}
        records.append(json.dumps(rec, ensure_ascii=False).encode())
    fast = _same_either_way(pa.array(records, pa.large_binary()), pa.array(records, pa.large_binary()))
    rows = {r["event_id"]: r for r in _rows(fast[0])}
    # worked out by hand from the contract: unknown keys kept in their order, secrets redacted
    assert rows["k-0"]["metadata"] == '{"trace":"t-1"}' and rows["k-0"]["claim_count"] == 2
    assert rows["k-1"]["metadata"] == '{"trace":"é/</x ~日本"}'
    assert rows["k-3"]["metadata"] == '{"trace":null}'
    assert rows["k-4"]["metadata"] == '{"trace":"a","span":"b"}'
    assert rows["k-5"]["metadata"] == '{"span":"b","trace":"a"}'
    assert rows["k-6"]["metadata"] is None and rows["k-6"]["ai_model"] == "trace"
    assert rows["k-10"]["metadata"] == '{"trace":"token=[REDACTED]"}'
    assert rows["k-0"]["error_message"] == "upstream timed out (Bearer [REDACTED])"
    assert rows["k-12"]["error_message"] == "token=[REDACTED] then Bearer [REDACTED]"
    assert rows["k-9"]["error_message"] == "mail [EMAIL]"
    assert rows["k-3"]["error_message"] == "x" * 1990 + " Bearer [R"  # redacted, then cut at 2,000


def test_kept_metadata_in_arrow():
    texts = pa.array(['{"metadata":{"trace":"t-1","claimCount":2}}', '{"metadata":{"trace":null}}',
                      '{"metadata":{"claimCount":1}}', '{"metadata":{"n":3}}', '{"x":1}'])
    meta = pa.array([{"trace": "t-1", "claimCount": 2, "n": None}, {"trace": None, "n": None},
                     {"claimCount": 1}, {"n": 3}, None],
                    pa.struct({"trace": pa.string(), "claimCount": pa.int64(), "n": pa.int64()}))
    kept, sql = kept_metadata(meta, texts)
    assert kept.to_pylist()[:3] == ['{"trace":"t-1"}', None, None]
    assert sql.tolist() == [False, True, False, True, False]  # a JSON null and a number: SQL
    parquet = pa.array([{"trace": "t", "claimCount": 1}, {"trace": None}, {"trace": 'a"b'}, None],
                       pa.struct({"trace": pa.string(), "claimCount": pa.int64()}))
    kept, sql = kept_metadata(parquet, None)
    assert kept.to_pylist()[:2] == ['{"trace":"t"}', '{"trace":null}'] and kept[3].as_py() is None
    assert sql.tolist() == [False, False, True, False]  # a quote is escaped: SQL writes it


def test_parquet_metadata_strings_that_need_escapes():
    n = 8
    traces = ['a"b', "c\\d", "e\nf", "plain", None, "é/<", "Bearer abcdef123", ""]
    table = pa.table({"eventId": [f"q-{i}" for i in range(n)],
                      "eventType": ["transcription_completed"] * n,
                      "timestamp": pa.array([_MS + i for i in range(n)], pa.int64()),
                      "metadata": pa.array([{"claimCount": i, "trace": t} for i, t in enumerate(traces)],
                                           META_STRUCT)})
    fast = _same_either_way(TypedRows.json_texts(table), TypedRows(table))
    kept = fast[0].column("metadata").to_pylist()
    assert kept[0] == '{"trace":"a\\"b"}' and kept[4] == '{"trace":null}'
    assert kept[6] == '{"trace":"Bearer [REDACTED]"}'


def test_metadata_whose_unknown_keys_are_all_objects(kept_con):
    # no unknown key is a string, so Arrow writes none of them: every row's metadata is the
    # SQL's to write (this once failed the whole batch, which then went record by record)
    records = [json.dumps({"event_id": f"m{i}", "event_type": "artifact_received",
                           "timestamp": "2026-02-16T14:00:00Z",
                           "metadata": {"extra": {"depth": i}, "n": i}}).encode() for i in range(80)]
    accepted, rejected = validate_fast(kept_con, pa.array(records, pa.large_binary()), NOW, NOW)
    assert rejected.num_rows == 0
    assert accepted.column("metadata").to_pylist() == [
        json.dumps({"extra": {"depth": i}, "n": i}, separators=(",", ":")) for i in range(80)]


def _same_as_full(con, lines) -> tuple:
    full = validate(con, lines, NOW, NOW)
    fast = validate_fast(con, lines, NOW, NOW)
    assert fast[1].to_pylist() == full[1].to_pylist()
    assert fast[0].to_pylist() == full[0].to_pylist()
    return fast


def test_an_unknown_metadata_key_that_is_null_is_kept_as_the_full_rules_keep_it(kept_con):
    # a number under an unknown key in one record and JSON null in the next: the full rules keep
    # `"n":null`; the fast path once dropped it (it wrote no non-string key and left nulls out)
    base = {"event_type": "artifact_received", "timestamp": "2026-02-16T14:00:00Z"}
    for meta in ([{"n": 1}, {"n": None}], [{"n": 1, "t": "a"}, {"n": None, "t": "b"}]):
        lines = pa.array([json.dumps({**base, "event_id": f"k{i}", "metadata": m}).encode()
                          for i, m in enumerate(meta)], pa.large_binary())
        accepted, _ = _same_as_full(kept_con, lines)
        assert json.loads(accepted.column("metadata")[1].as_py())["n"] is None
    # the same from a Parquet struct: a null child is written as null
    table = pa.table({"eventId": ["p0", "p1"], "eventType": ["artifact_received"] * 2,
                      "timestamp": pa.array([1771250000000] * 2, pa.int64()),
                      "metadata": pa.array([{"n": 1, "t": "a"}, {"n": None, "t": "b"}],
                                           pa.struct([("n", pa.int64()), ("t", pa.string())]))})
    accepted, _ = validate_fast(kept_con, TypedRows(table), NOW, NOW)
    assert [json.loads(m) for m in accepted.column("metadata").to_pylist()] == [
        {"n": 1, "t": "a"}, {"n": None, "t": "b"}]


def test_parquet_integers_beyond_2_53_in_a_number_field_are_judged_not_failed(tmp_path):
    # int64 2^53 + 1 in durationMs: the fast path once raised on the cast to double and the record
    # was quarantined as 'could not be validated'; the full rules accept it (a double near it)
    import pyarrow.parquet as pq

    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"eventId": ["p0", "p1"], "eventType": ["artifact_received"] * 2,
                             "timestamp": pa.array([1771250000000] * 2, pa.int64()),
                             "durationMs": pa.array([1, 2 ** 53 + 1], pa.int64())}), path)
    lake = Lake.create(tmp_path / "lake")
    result = landing.ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (2, 0)
    con = duckdb.connect()
    stored = con.execute("select duration_ms from read_parquet($f) order by 1",
                         {"f": [str(p) for p in lake.events_dir.rglob("*.parquet")]}).fetchall()
    assert stored == [(1.0,), (float(2 ** 53),)]  # 2^53 + 1 is no double: the nearest, 2^53


# what DuckDB's lenient reader takes but JSON does not, and what Arrow's reader reads as NaN or
# infinity: the fast path no longer scans texts for them; it relies on the strict reader's
# refusal, finds non-finite values after the parse, and never hands Arrow deep nesting
READ_AS_NOT_FINITE = ["NaN", "-NaN", "Infinity", "-Inf", "2e308", "[[1], [2, Infinity]]",
                      '{"a": {"b": NaN}}']
REFUSED = ["nan", "-inf", "1e999", "[1,]", '{"a": 1,}', "1 ,", "[" * 20_000 + "]" * 20_000]
KNOWN = ['"durationMs": Inf', '"metadata": {"note": Infinity}',
         '"metadata": {"claimCount": 2, "note": [NaN]}', '"metadata": ' + '{"k": ' * 9 + "1" + "}" * 9,
         '"metadata": {"a": ' + "[" * 8 + "]" * 8 + "}"]


def _with(extras: list[str]) -> pa.Array:
    """A record with each extra text (and the fields every record needs), then a plain one."""
    lines = []
    for i, extra in enumerate(extras):
        head = '"eventType": "transcription_failed", "timestamp": "2026-02-16T14:00:00Z"'
        lines += [f'{{"eventId": "e{i}", {head}, {extra}}}'.encode(),
                  f'{{"eventId": "p{i}", {head}}}'.encode()]
    return pa.array(lines, pa.large_binary())


@pytest.mark.parametrize("extras", [
    [f'"x{i}": {v}' for i, v in enumerate(READ_AS_NOT_FINITE)], KNOWN,
    [f'"x{i}": {v}' for i, v in enumerate(REFUSED)],
    [f'"x{i}": {v}' for i, v in enumerate(READ_AS_NOT_FINITE + REFUSED)] + KNOWN])
def test_what_only_a_lenient_reader_takes_is_judged_as_the_full_rules_judge_it(kept_con, extras):
    accepted, rejected = _same_as_full(kept_con, _with(extras))
    # every such record rejected, every plain one beside it accepted
    assert rejected.column("line_no").to_pylist() == list(range(0, 2 * len(extras), 2))
    assert accepted.num_rows == len(extras)


def test_brackets_and_lenient_words_in_a_string_are_no_doubt(kept_con, monkeypatch):
    extras = ['"errorMessage": "a,nan, 1e999,} and [[[[[[[[[[ in a string"',
              '"metadata": {"a": ' + "[" * 7 + "]" * 7 + "}"]  # 8 levels: allowed
    seen = []
    monkeypatch.setattr("voice_monitor.fastpath.validate", lambda con, lines, now, at: (
        seen.append(len(lines)), validate(con, lines, now, at))[1])
    accepted, rejected = _same_as_full(kept_con, _with(extras))
    assert rejected.num_rows == 0 and accepted.column("error_message")[0].as_py().startswith("a,nan")
    assert seen == []  # the full query saw none of them: the fast path took them all


def test_a_short_record_nested_deep_outside_metadata_is_the_full_rules_to_judge(kept_con):
    # 400 levels under an unknown key: short enough for Arrow's reader, which the byte scan
    # lets it reach, and accepted by the full rules (only metadata has a depth limit); the
    # fast path leaves it to them
    accepted, rejected = _same_as_full(kept_con, _with(['"deep": ' + "[" * 400 + "]" * 400]))
    assert rejected.num_rows == 0 and accepted.num_rows == 2
