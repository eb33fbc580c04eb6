"""Who acknowledges an alert, and the note, are checked: a name with control characters or
without bound, or a note of any length, was stored as sent (and logged: a newline in a name
forged a log line)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, assert_one_line_error, event, run_main
from server_process import STAFF, ServerProcess, bearer, client

from voice_monitor.health.alerts import active_alerts, run_checks
from voice_monitor.landing import land_records


def _open_alert(lake) -> str:
    land_records(lake, [event("artifact_received", NOW), event("circuit_breaker_opened", NOW)],
                 now=NOW)
    (raised,) = run_checks(lake, NOW).raised
    assert raised.alert_type == "circuit_breaker_open"
    return raised.alert_id


BAD = [
    (["--by", "eve\nINFO: alert acknowledged by admin"], "acknowledged by 'eve\\nINFO"),
    (["--by", "x" * 257], "acknowledged by 'xxxx"),
    (["--by", "alice", "--note", "n" * 2001], "note is 2,001 characters long"),
    (["--by", "alice", "--note", "ok\x1b[31m red"], "note 'ok\\x1b[31m red' contains a control"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=["newline", "257", "long note", "escape"])
def test_the_cli_refuses_a_bad_name_or_note_and_leaves_the_alert(capsys, lake, extra, message):
    alert_id = _open_alert(lake)
    code, _, err = run_main(capsys, "alerts", "ack", alert_id, *extra, "--now",
                            "2026-02-16T14:31:00Z", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert message in err
    (alert,) = active_alerts(lake)
    assert alert.acknowledged_by is None and alert.acknowledged_at is None


def test_a_name_of_256_and_a_note_of_2000_with_lines_are_kept(capsys, lake):
    alert_id = _open_alert(lake)
    note = ("line one\n\tline two\r\n" + "é" * 2000)[:2000]
    code, _, err = run_main(capsys, "alerts", "ack", alert_id, "--by", "b" * 256, "--note", note,
                            "--now", "2026-02-16T14:31:00Z", "--lake", str(lake.root))
    assert code == 0, err
    (alert,) = active_alerts(lake)
    assert (alert.acknowledged_by, alert.acknowledged_note) == ("b" * 256, note)


@pytest.mark.slow
def test_the_api_answers_400_for_a_bad_name(tmp_path):
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server, client() as http:
        from voice_monitor.lake import Lake

        lake = Lake(tmp_path / "lake")
        alert_id = _open_alert(lake)
        url = f"{server.url}/api/v1/alerts/{alert_id}/ack"
        answer = http.post(url, json={"by": "a\u0000b"}, headers=bearer(STAFF))
        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("acknowledged by 'a\\x00b': a name is 1-256")
        assert active_alerts(lake)[0].acknowledged_by is None
        assert http.post(url, json={"by": "alice"}, headers=bearer(STAFF)).status_code == 200
        assert active_alerts(lake)[0].acknowledged_by == "alice"


@pytest.mark.slow
def test_the_api_refuses_an_empty_or_blank_name_as_the_cli_does(capsys, tmp_path):
    """`{"by": ""}` was acknowledged as the token's name (200) where `alerts ack --by ''` is
    refused: a name given is checked as the CLI checks it; only a name left out (or null) is
    the token's."""
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server, client() as http:
        from voice_monitor.lake import Lake

        lake = Lake(tmp_path / "lake")
        alert_id = _open_alert(lake)
        url = f"{server.url}/api/v1/alerts/{alert_id}/ack"
        for by in ("", "   "):
            code, _, err = run_main(capsys, "alerts", "ack", alert_id, "--by", by,
                                    "--lake", str(lake.root))
            assert_one_line_error(code, err, status=1)
            refusal = f"acknowledged by {by!r}: give the name of who acknowledges, e.g. 'alice'"
            assert refusal in err
            for answer in (http.post(url, json={"by": by}, headers=bearer(STAFF)),
                           http.post(url, data={"by": by}, headers=bearer(STAFF))):
                assert answer.status_code == 400
                assert answer.json() == {"detail": refusal}
            assert active_alerts(lake)[0].acknowledged_by is None
        # null is a name left out: the token's
        answer = http.post(url, json={"by": None, "note": "on it"}, headers=bearer(STAFF))
        assert answer.status_code == 200
        assert (answer.json()["acknowledged_by"], answer.json()["acknowledged_note"]) == (
            "staff-token-1", "on it")


@pytest.mark.slow
def test_a_body_the_api_cannot_read_is_refused_not_ignored(tmp_path):
    """curl -d '{"by": "alice"}' without the JSON content type sends a form with one odd field;
    it was acknowledged silently as the token's name, and a text/plain body ignored likewise."""
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server, client() as http:
        from voice_monitor.lake import Lake

        lake = Lake(tmp_path / "lake")
        url = f"{server.url}/api/v1/alerts/{_open_alert(lake)}/ack"
        form = http.post(url, content=b'{"by": "alice"}', headers={
            **bearer(STAFF), "Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 400
        assert form.json()["detail"].startswith("unknown field(s) '{\"by\": \"alice\"}'")
        text = http.post(url, content=b"alice", headers={**bearer(STAFF),
                                                          "Content-Type": "text/plain"})
        assert text.status_code == 415 and "'text/plain' is not accepted" in text.json()["detail"]
        assert active_alerts(lake)[0].acknowledged_by is None
        # a field given twice: which one counts would be a guess (orjson kept the last, eve)
        for content, kind in ((b'{"by": "bob", "by": "eve"}', "application/json"),
                              (b"by=bob&by=eve", "application/x-www-form-urlencoded")):
            twice = http.post(url, content=content, headers={**bearer(STAFF), "Content-Type": kind})
            assert twice.status_code == 400, kind
            assert twice.json() == {"detail": "the body gives 'by' 2 times; send it once"}
        assert active_alerts(lake)[0].acknowledged_by is None
        # a form with the documented fields, and no body at all, still work
        assert http.post(url, data={"by": "bob"}, headers=bearer(STAFF)).status_code == 200
        assert active_alerts(lake)[0].acknowledged_by == "bob"
        # no body at all is read too (the token's name): here a second acknowledgement, so 409
        # naming the first, which is kept (test_server_app covers a first one without a body)
        again = http.post(url, headers=bearer(STAFF))
        assert again.status_code == 409 and "already acknowledged by bob" in again.json()["detail"]


def test_an_acknowledgement_dated_before_the_alert_was_raised_is_refused(capsys, lake):
    """`alerts ack ID --by bob --now 2020-01-01T00:00:00Z` recorded an acknowledgement six
    years before the alert existed (raised 2026-02-16T14:30Z): who-and-when must be a when
    after the raise."""
    alert_id = _open_alert(lake)
    code, _, err = run_main(capsys, "alerts", "ack", alert_id, "--by", "bob", "--now",
                            "2026-02-16T14:29:59Z", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert ("acknowledgement at 2026-02-16T14:29:59Z would come before the alert was raised "
            "(2026-02-16T14:30:00Z)") in err
    (alert,) = active_alerts(lake)
    assert alert.acknowledged_at is None
    code, _, err = run_main(capsys, "alerts", "ack", alert_id, "--by", "bob", "--now",
                            "2026-02-16T14:30:00Z", "--lake", str(lake.root))
    assert code == 0, err  # at the very instant of the raise: fine


def test_an_alert_raised_ahead_of_the_clock_is_acknowledged_at_its_raise(capsys, lake):
    """A replay at a future --now raises alerts dated then; acknowledging one without --now
    (the dashboard has none) recorded the real clock, before the raise."""
    ahead = (datetime.now(UTC) + timedelta(days=400)).replace(minute=30, second=0, microsecond=0)
    land_records(lake, [event("artifact_received", ahead), event("circuit_breaker_opened", ahead)],
                 now=ahead)
    (raised,) = run_checks(lake, ahead).raised
    code, out, err = run_main(capsys, "alerts", "ack", raised.alert_id, "--by", "bob",
                              "--lake", str(lake.root))
    assert code == 0, err
    assert out == f"acknowledged {raised.alert_id} by bob at {ahead:%Y-%m-%d %H:%M}Z\n"
    (alert,) = active_alerts(lake)
    assert (alert.acknowledged_by, alert.acknowledged_at) == ("bob", ahead)


@pytest.mark.parametrize("org", ["", "a\tb"])
def test_alert_history_refuses_an_organization_id_that_is_no_id(capsys, lake, org):
    """`alerts history --org ''` printed nothing and exited 0, while the API answered the same
    filter with a 400 naming it: the library now checks it, for every caller."""
    _open_alert(lake)
    code, out, err = run_main(capsys, "alerts", "history", "--org", org, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)  # a usage error, in the library's words
    assert f"organization_id {org!r} is not a valid id" in err


def test_an_empty_alert_history_says_so(capsys, lake):
    code, out, _ = run_main(capsys, "alerts", "history", "--type", "queue_depth",
                            "--lake", str(lake.root))
    assert (code, out) == (0, "no alerts\n")
