"""Secret redaction (contract §3): every listed form, in error_message, in the promoted string
fields, in the kept metadata and in quarantine's raw text; SQL and Python agree; idempotent.

Expected outputs are written by hand. The property test injects every form, with a random secret,
into random text and checks that no secret material is left.
"""

from __future__ import annotations

import functools
import json

import duckdb
import pytest
from conftest import NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor.lake import connect
from voice_monitor.landing import land_lines, land_records
from voice_monitor.redaction import redact, redact_sql

R = "[REDACTED]"

# (text, redacted text), each worked out by hand from the rules in docs/landing.md
CASES = [
    ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {R}"),
    ("authorization=Basic dXNlcjpwYXNz", f"authorization=Basic {R}"),
    ('{"Authorization": "Token 12ab"}', f'{{"Authorization": "Token {R}"}}'),
    ("retry with bearer xyz123 now", f"retry with bearer {R} now"),
    ("header Basic dXNlcjpwYXNz=", f"header Basic {R}"),
    ("a basic configuration error", "a basic configuration error"),  # a word, not base64
    ('{"api_key": "k-123"}', f'{{"api_key": "{R}"}}'),
    ("password=\"hunter 2\" next", f'password="{R}" next'),
    ("db_passwd: 'p4ss'", f"db_passwd: '{R}'"),
    ("client_secret=abc&scope=x", f"client_secret={R}&scope=x"),
    ("x-api-key: k123, more", f"x-api-key: {R}, more"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", f"aws_secret_access_key={R}"),
    ("PRIVATE_KEY = abc", f"PRIVATE_KEY = {R}"),
    ('{"max_tokens": 4096}', f'{{"max_tokens": "{R}"}}'),  # key contains token: JSON kept valid
    ("postgres://user:p@ss@db.example.com:5432/app", f"postgres://{R}@db.example.com:5432/app"),
    ("see https://example.com/a@b path", "see https://example.com/a@b path"),  # no credentials
    # no user name, only a password (Redis's usual form): the password still goes
    ("redis://:s3cr3tpw@cache.internal:6379/0", f"redis://{R}@cache.internal:6379/0"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", f"jwt {R} end"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEab+/=\n-----END RSA PRIVATE KEY----- after", f"{R} after"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEcut", R),  # cut short: everything after BEGIN goes
    ("key sk-proj-abcdEFGH1234", f"key {R}"),
    ("key sk-ant-api03-abcdEFGH", f"key {R}"),
    ("key sk_live_abcdEFGH1234", f"key {R}"),
    ("key sk_test_abcdEFGH1234", f"key {R}"),
    ("key rk_live_abcdEFGH1234", f"key {R}"),
    ("key sk-abcdefghijklmnop", f"key {R}"),
    ("sk-learn and task-1234567890123456789", "sk-learn and task-1234567890123456789"),
    ("gh ghp_abcdefghij0123456789 gho_abcdefghij ghs_abcdefghij", f"gh {R} {R} {R}"),
    ("github_pat_11ABCDEFG0abcdefghij", R),
    ("slack xoxb-1234-5678-abcdef xoxp-99999999", f"slack {R} {R}"),
    ("google AIzaSyA1234567890abcdefghij", f"google {R}"),
    ("aws AKIAIOSFODNN7EXAMPLE", f"aws {R}"),
    ("mail bob.smith+x@example.co.uk now", "mail [EMAIL] now"),
    ("plain text, nothing to hide: 42 ms", "plain text, nothing to hide: 42 ms"),
]


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()  # one for the module: connecting costs more than the query


def sql_redact(texts: list[str]) -> list[str]:
    return [r for (r,) in _duckdb().execute(
        f"select {redact_sql('t')} from (select unnest($t) as t, generate_subscripts($t, 1) i) "
        "order by i", {"t": texts}).fetchall()]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_form_redacted_as_worked_out(text, expected):
    assert redact(text) == expected


def test_sql_and_python_give_the_same_text():
    texts = [t for t, _ in CASES] + [json.dumps({"error_message": t}) for t, _ in CASES]
    assert sql_redact(texts) == [redact(t) for t in texts]


# -- property: every form, injected into random text, leaves nothing behind ---------------------

# secrets and filler share no character, so a secret found afterwards can only be a leak
SECRET = st.text("DEFGHJKLMNPQRSTUVWdefghijkmnopqrstuvw2345678", min_size=20, max_size=40)
FORMS = [  # each takes the random secret and returns the text to inject
    lambda s: f"Authorization: Bearer {s}",
    lambda s: f"Bearer {s}",
    lambda s: f"Authorization: Basic {s}9",  # base64 of user:pass: letters and digits
    lambda s: f'"password": "{s}"',
    lambda s: f"password={s}",
    lambda s: f'passwd: "{s}"',
    lambda s: f"secret='{s}'",
    lambda s: f"auth_token={s}",
    lambda s: f"API_KEY: {s}",
    lambda s: f"apikey={s}",
    lambda s: f'"access_key": "{s}"',
    lambda s: f"private_key={s}",
    lambda s: f"client_secret: {s}",
    lambda s: f"https://admin:{s}@db.internal/x",
    lambda s: f"redis://:{s}@cache.internal:6379/0",
    lambda s: f"eyJhbGciOiJIUzI1NiJ9.eyJ{s}.{s}",
    lambda s: f"-----BEGIN EC PRIVATE KEY-----\n{s}\n{s}\n-----END EC PRIVATE KEY-----",
    lambda s: f"sk-{s}",
    lambda s: f"sk-proj-{s}",
    lambda s: f"sk-ant-api03-{s}",
    lambda s: f"sk_live_{s}",
    lambda s: f"sk_test_{s}",
    lambda s: f"rk_live_{s}",
    lambda s: f"ghp_{s}",
    lambda s: f"gho_{s}",
    lambda s: f"ghs_{s}",
    lambda s: f"github_pat_{s}",
    lambda s: f"xoxb-{s}",
    lambda s: f"xoxp-{s}",
    lambda s: f"AIza{s}",
    lambda s: f"AKIA{s.upper()[:16]}",
    lambda s: f"{s}@example.com",
]
AKIA = len(FORMS) - 2  # its secret is the first 16 characters, upper case
# random surrounding text: words, digits, punctuation, spaces, newlines and non-ASCII letters
FILLER = st.text(st.sampled_from(list("abcxyz XYZ019.,;:=-_/\"'()[]{}\n\téü€")), max_size=40)
SEPARATOR = st.sampled_from([" ", "\n", ", ", " (", "; ", "\t"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.tuples(FILLER, SEPARATOR, st.sampled_from(range(len(FORMS))), SECRET,
                                SEPARATOR), min_size=1, max_size=len(FORMS)),
       tail=FILLER)
def test_injected_secrets_never_survive_and_redaction_is_idempotent(parts, tail):
    text, secrets = "", []
    for filler, before, form, secret, after in parts:
        material = secret.upper()[:16] if form == AKIA else secret
        text += filler + before + FORMS[form](secret) + after
        secrets.append(material)
    text += tail
    once = redact(text)
    for secret in secrets:
        assert secret not in once, (text, once)
    assert redact(once) == once
    # the same inside JSON text (quarantine keeps a record's raw JSON): escapes do not help it
    raw = json.dumps({"event_id": "e", "error_message": text})
    raw_once = redact(raw)
    for secret in secrets:
        assert secret not in raw_once, (raw, raw_once)
    assert redact(raw_once) == raw_once
    assert sql_redact([text, raw]) == [once, raw_once]


# -- where redaction applies in the lake -----------------------------------------------------

def test_redacted_in_message_promoted_fields_metadata_and_quarantine(lake):
    record = {"event_id": "r-1", "event_type": "transcription_failed", "timestamp": "2026-02-16T14:00:00Z",
              "error_message": "call failed: Authorization: Bearer tok123",
              "error_code": "token=abc", "previous_status": "mail bob@example.com",
              "new_status": "postgres://u:pw@db", "organization_id": "org-1",
              "metadata": {"ai_model": "m sk-ant-api03-abcdefgh", "source_channel": "ghp_abcdefghij12",
                           "api_key": "k-9", "note": "AKIAIOSFODNN7EXAMPLE", "n": 3}}
    bad = dict(record, event_id="r-2", duration_ms=-1)  # rejected: its raw text is quarantined
    result = land_records(lake, [record, bad], now=NOW)
    assert (result.accepted, result.quarantined) == (1, 1)
    con = connect()
    try:
        row = con.execute(
            "select error_message, error_code, previous_status, new_status, ai_model, "
            "source_channel, metadata, organization_id from read_parquet($f)",
            {"f": str(lake.events_dir) + "/*/*/*.parquet"}).fetchone()
        raw, reason = con.execute("select raw, reason from read_parquet($f)",
                                  {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchone()
    finally:
        con.close()
    assert row == (f"call failed: Authorization: Bearer {R}", f"token={R}", "mail [EMAIL]",
                   f"postgres://{R}@db", f"m {R}", R, f'{{"api_key":"{R}","note":"{R}","n":3}}',
                   "org-1")
    assert json.loads(raw)["error_message"] == f"call failed: Authorization: Bearer {R}"
    for secret in ("tok123", "bob@example.com", "u:pw", "abcdefgh", "ghp_", "k-9", "AKIA"):
        assert secret not in raw
    assert reason == "duration_ms -1 must be a finite number >= 0"


def test_secret_quoted_in_a_reason_is_redacted(lake):
    # a reason shows the offending value: that copy is redacted too
    line = json.dumps({"event_id": "r", "event_type": "artifact_received",
                       "timestamp": "2026-02-16T14:00:00Z", "error_code": ["password=hunter2"]})
    land_lines(lake, [line], "test", now=NOW)
    con = connect()
    try:
        (raw, reason), = con.execute("select raw, reason from read_parquet($f)",
                                     {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchall()
    finally:
        con.close()
    assert "hunter2" not in raw and "hunter2" not in reason
    assert reason == f'error_code ["password={R}"] must be a string'


def test_typed_columns_are_redacted_value_by_value_as_the_rules_say():
    # the fast path redacts each distinct value of a batch's string columns once; a column with
    # nothing to redact comes back as it is: the same as the Python rules value by value
    import pyarrow as pa

    from voice_monitor.typed_values import redacted

    columns = [pa.nulls(3, pa.string()), pa.array(["a", None, "gpt-x"]),
               pa.chunked_array([["x Bearer abc1", None], ["x Bearer abc1"]]),
               pa.nulls(3, pa.string()), pa.array(["token=v1", "ok", "token=v1"])]
    con = connect()
    try:
        got = redacted(con, columns)
    finally:
        con.close()
    assert [pa.chunked_array([c]).to_pylist() if isinstance(c, pa.Array) else c.to_pylist()
            for c in got] == [[None if v is None else redact(v) for v in c.to_pylist()] for c in columns]
    assert got[1] is columns[1]  # untouched
    assert got[2].to_pylist()[0] == f"x Bearer {R}" and got[4].to_pylist()[0] == f"token={R}"


def test_typed_redaction_remembers_the_texts_it_has_met(monkeypatch):
    # a producer's messages repeat batch after batch: a text met before is not queried again,
    # and comes back as the Python rules redact it
    import uuid

    import pyarrow as pa

    from voice_monitor import typed_values

    old, new = f"Bearer abc123{uuid.uuid4().hex} failed", f"password=hunter2 {uuid.uuid4().hex}"
    con = connect()
    try:
        typed_values.redacted(con, [pa.array([old, "ok"])])
        queried = []
        real = typed_values.parsed
        monkeypatch.setattr(typed_values, "parsed", lambda c, sql: queried.append(sql) or real(c, sql))
        again = typed_values.redacted(con, [pa.array([old, None, old])])
        assert again[0].to_pylist() == [redact(old), None, redact(old)] and not queried
        mixed = typed_values.redacted(con, [pa.array([new, old])])
        assert mixed[0].to_pylist() == [redact(new), redact(old)] and len(queried) == 1
    finally:
        con.close()
