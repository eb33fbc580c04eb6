"""A lake on an object store whose store fails under it, as an operator meets it (contract §4,
§11, §12, §13): a bucket that is missing or deleted mid-run, a store that does not answer. Every command exits 1 with one
line naming the lake and the fix; the server answers 503 with Retry-After (the sender comes
back), never 500. A real S3-protocol server (`moto_server`) on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from conftest import NOW, assert_one_line_error, event, run_main
from fastapi.testclient import TestClient
from server_process import free_port
from servers import make_bucket, s3_env, s3_server

from voice_monitor.lake import Lake, NoLakeError
from voice_monitor.landing import land_records
from voice_monitor.server import create_app

pytestmark = pytest.mark.slow

NOW_ARG = "2026-02-16T14:30:00Z"
INGEST, STAFF = "ingest-0123456789abcdef", "staff-0123456789abcdef"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def store(endpoint, tmp_path, monkeypatch):
    """The AWS settings of the server in the environment; the local state outside ~."""
    for key, value in {**s3_env(endpoint), "VOICE_MONITOR_STATE_DIR": str(tmp_path / "s")}.items():
        monkeypatch.setenv(key, value)
    return endpoint


def _delete_bucket(endpoint: str, bucket: str) -> None:
    s3 = boto3.resource("s3", endpoint_url=endpoint)
    s3.Bucket(bucket).objects.all().delete()
    s3.Bucket(bucket).delete()


def test_a_lake_whose_bucket_does_not_exist_names_the_bucket_and_the_fix(store, tmp_path,
                                                                         capsys):
    # `init` and `ingest` create a lake, not a bucket: they said only "The specified bucket
    # does not exist" (s3fs's FileNotFoundError), naming neither the lake nor what to do
    lake = "s3://never-made/prod"
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    expected = (f"voice-monitor: error: no bucket 'never-made' for the lake at {lake} "
                "(deleted, or not made yet?); create the bucket on the object store, then the "
                f"lake in it with voice-monitor init {lake}")
    for argv in (["init", lake], ["ingest", str(batch), "--lake", lake, "--now", NOW_ARG],
                 ["events", "recent", "--lake", lake],
                 ["rollup", "hourly", "--lake", lake, "--now", NOW_ARG]):
        code, out, err = run_main(capsys, *argv)
        assert_one_line_error(code, err, 1)
        assert err.strip() == expected, argv


def test_an_endpoint_url_with_blanks_around_it_is_the_store_it_names(store, monkeypatch, capsys):
    # AWS_ENDPOINT_URL passed the check with its blanks stripped, but went to botocore as given
    # (a trailing space or newline from an env file): "EndpointResolutionError: Custom endpoint
    # `http://127.0.0.1:PORT ` was not a valid URI (run with --debug for the traceback)"
    make_bucket(store, "padded")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f" {store} \n")
    code, out, err = run_main(capsys, "init", "s3://padded/prod")
    assert (code, err) == (0, "")
    assert out.strip() == "created lake at s3://padded/prod"
    code, out, err = run_main(capsys, "events", "recent", "--lake", "s3://padded/prod", "--json")
    assert (code, err, json.loads(out)["rows"]) == (0, "", [])


def test_a_bucket_deleted_under_a_running_server_is_503_and_retry_after(store, caplog):
    make_bucket(store, "deleted-later")
    lake = Lake.create("s3://deleted-later/prod")
    land_records(lake, [event("artifact_received", NOW, event_id="before")], now=NOW)
    app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    with TestClient(app, base_url="http://testserver") as http:
        _delete_bucket(store, "deleted-later")
        answer = http.post("/v1/events", content=json.dumps(event("artifact_received", NOW)),
                           headers={"Authorization": f"Bearer {INGEST}",
                                    "Content-Type": "application/x-ndjson"})
    # it was a 500 "Internal Server Error": the sender was told its batch failed for good
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    # the lake is missing, to try again; which bucket is for the server's log, not the client
    assert answer.json()["detail"] == ("the server's lake is missing (unmounted, moved or "
                                       "deleted? the server's log says where); try again in a "
                                       "moment")
    assert ("voice-monitor: POST /v1/events answered 503: no bucket 'deleted-later' for the lake "
            "at s3://deleted-later/prod") in caplog.text


def test_a_lake_prefix_deleted_under_a_running_server_is_503_as_a_missing_folder(store,
                                                                                  caplog):
    # the lake's prefix deleted (aws s3 rm --recursive), the bucket kept: the collector made a
    # new lake there without its marker and answered 200 for events no command could read
    # ("no lake at s3://..."), where a local folder deleted under the server answers 503
    make_bucket(store, "kept")
    lake = Lake.create("s3://kept/prod")
    land_records(lake, [event("artifact_received", NOW, event_id="before")], now=NOW)
    app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    s3 = boto3.resource("s3", endpoint_url=store)
    with TestClient(app, base_url="http://testserver") as http:
        def post(event_id):
            return http.post("/v1/events", content=json.dumps(event("artifact_received", NOW,
                                                                    event_id=event_id)),
                             headers={"Authorization": f"Bearer {INGEST}",
                                      "Content-Type": "application/x-ndjson"})

        assert post("landed").json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
        s3.Bucket("kept").objects.filter(Prefix="prod/").delete()
        answer = post("refused")
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["detail"] == ("the server's lake is missing (unmounted, moved or "
                                           "deleted? the server's log says where); try again in "
                                           "a moment")
        # nothing was made where the lake was
        assert [o.key for o in s3.Bucket("kept").objects.all()] == []
        assert ("voice-monitor: POST /v1/events answered 503: no lake at s3://kept/prod"
                in caplog.text)
        Lake.create("s3://kept/prod")  # the lake made again (or restored): the batch lands
        assert post("refused").json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}


def _not_answering(monkeypatch, tmp_path) -> str:
    """AWS settings for an endpoint where nothing listens; one attempt per request (the three of
    botocore's standard mode, with their backoff, take a few seconds a command)."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    for key, value in {**s3_env(endpoint), "AWS_MAX_ATTEMPTS": "1",
                       "VOICE_MONITOR_STATE_DIR": str(tmp_path / "s")}.items():
        monkeypatch.setenv(key, value)
    return endpoint


def _attempts_to_list(url: str) -> tuple[int, str]:
    """(requests sent, the error) for listing the lake at `url`, whose store refuses connections."""
    from voice_monitor.storage import lake_path

    fs = lake_path(url).fs
    fs.connect()
    sent: list[str] = []
    fs.s3.meta.events.register("before-send.s3", lambda **kwargs: sent.append("attempt"))
    with pytest.raises(Exception) as failed:  # noqa: PT011 (botocore's, as it is)
        fs.ls(url.removeprefix("s3://"))
    return len(sent), type(failed.value).__name__


def test_a_store_that_refuses_connections_is_tried_three_times_not_five(monkeypatch, tmp_path):
    # botocore's legacy mode (its default) tried 5 times with backoff up to 8 s: 12-22 s before
    # a command said the store was unreachable; the standard mode (the AWS SDKs' default) tries
    # 3 times. A mode the user chose (AWS_RETRY_MODE, retry_mode in the AWS config) is kept.
    for key, value in s3_env(f"http://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert _attempts_to_list("s3://refusing/default") == (3, "EndpointConnectionError")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # a new client
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    assert _attempts_to_list("s3://refusing/legacy") == (5, "EndpointConnectionError")
    monkeypatch.delenv("AWS_RETRY_MODE")
    (tmp_path / "config").write_text("[default]\nretry_mode = adaptive\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # a new client
    from voice_monitor.storage import lake_path

    fs = lake_path("s3://refusing/profile").fs
    fs.connect()
    assert fs.s3.meta.config.retries["mode"] == "adaptive"


def test_a_store_that_does_not_answer_is_one_line_naming_the_lake_and_what_to_check(
        monkeypatch, tmp_path, capsys):
    # it was "EndpointConnectionError: Could not connect to the endpoint URL: ... (run with
    # --debug for the traceback)": botocore's error is no OSError, so it read as a bug, named
    # no lake and no fix (an unreachable Redis or Dask scheduler says "cannot reach ...")
    endpoint = _not_answering(monkeypatch, tmp_path)
    lake = "s3://far-away/prod"
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    for argv in (["init", lake], ["ingest", str(batch), "--lake", lake, "--now", NOW_ARG],
                 ["events", "recent", "--lake", lake]):
        code, out, err = run_main(capsys, *argv)
        assert_one_line_error(code, err, 1)
        line = err.strip()
        assert line.startswith(f"voice-monitor: error: cannot reach the object store of the "
                               f"lake at {lake}: Could not connect to the endpoint URL"), argv
        assert line.endswith(f"; check that the store at {endpoint} runs and this host can "
                             "reach it (AWS_ENDPOINT_URL), then run the command again"), argv
        assert "run with --debug" not in line


def test_a_store_gone_under_a_running_server_is_503_and_retry_after(monkeypatch, tmp_path,
                                                                    caplog):
    # it was 500 "Internal Server Error" for the sender and every reader, as if for good
    with s3_server(tmp_path) as endpoint:
        for key, value in {**s3_env(endpoint), "AWS_MAX_ATTEMPTS": "1",
                           "VOICE_MONITOR_STATE_DIR": str(tmp_path / "s")}.items():
            monkeypatch.setenv(key, value)
        make_bucket(endpoint, "goes-away")
        lake = Lake.create("s3://goes-away/prod")
        land_records(lake, [event("artifact_received", NOW, event_id="before")], now=NOW)
        app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    caplog.set_level(logging.ERROR, "uvicorn.error")
    with TestClient(app, base_url="http://testserver") as http:
        posted = http.post("/v1/events", content=json.dumps(event("artifact_received", NOW)),
                           headers={"Authorization": f"Bearer {INGEST}",
                                    "Content-Type": "application/x-ndjson"})
        read = http.get("/api/v1/events", headers={"Authorization": f"Bearer {STAFF}"})
        health = http.get("/healthz")  # (no token needed)
    for answer in (posted, read, health):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        # which store, where, and why: in the server's log, not told to any client
        assert answer.json()["detail"] == ("the server's lake store did not answer (the "
                                           "server's log says which and why); try again in a "
                                           "moment")
    logged = [r.getMessage() for r in caplog.records if "answered 503" in r.getMessage()]
    assert len(logged) == 3
    for line, request in zip(logged, ("POST /v1/events", "GET /api/v1/events", "GET /healthz"),
                             strict=True):
        assert line.startswith(f"voice-monitor: {request} answered 503: cannot reach the object "
                               "store of the lake at s3://goes-away/prod: ")
        assert f"check that the store at {endpoint} runs" in line


def test_credentials_missing_or_refused_name_the_lake_and_the_settings(monkeypatch, tmp_path,
                                                                        capsys):
    # they were "NoCredentialsError: Unable to locate credentials (run with --debug for the
    # traceback)" and the store's bare "The AWS Access Key Id you provided does not exist in
    # our records.": no lake, no setting to check
    lake = "s3://locked/prod"
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws to find credentials in
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # nor an instance role to ask for
    _not_answering(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = run_main(capsys, "events", "recent", "--lake", lake)
    assert_one_line_error(code, err, 1)
    assert err.strip() == (f"voice-monitor: error: no credentials for the object store of the "
                           f"lake at {lake} (Unable to locate credentials); set "
                           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or give "
                           "the host a role) where this command runs")

    # a store that checks credentials (moto with its IAM checks on) and knows none of these
    with s3_server(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        for key, value in s3_env(endpoint).items():
            monkeypatch.setenv(key, value)
        for argv in (["init", lake], ["events", "recent", "--lake", lake]):
            code, _, err = run_main(capsys, *argv)
            assert_one_line_error(code, err, 1)
            line = err.strip()
            assert line.startswith(f"voice-monitor: error: the object store refused the lake at "
                                   f"{lake}: The AWS Access Key Id you provided does not exist"), argv
            assert line.endswith("; check the credentials (AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that they may list, "
                                 f"get, put and delete under {lake}/"), argv


@contextlib.contextmanager
def _revocable_lake(monkeypatch, tmp_path) -> Iterator[tuple[str, Lake]]:
    """A lake on a moto server of its own (revoking credentials there would break the module's
    shared store): its endpoint and the lake s3://revoked/prod."""
    with s3_server(tmp_path) as endpoint:
        for key, value in {**s3_env(endpoint),
                           "VOICE_MONITOR_STATE_DIR": str(tmp_path / "s")}.items():
            monkeypatch.setenv(key, value)
        make_bucket(endpoint, "revoked")
        yield endpoint, Lake.create("s3://revoked/prod")


def _revoke_credentials(endpoint: str) -> None:
    """moto checks credentials from now on, and knows none."""
    urllib.request.urlopen(urllib.request.Request(
        endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
        headers={"Content-Type": "text/plain"}), timeout=10)


def test_credentials_revoked_under_a_running_server_are_503_and_the_log_names_the_settings(
        monkeypatch, tmp_path, caplog):
    # the store starts refusing the server's credentials (revoked, rotated away): it was a
    # plain 500 "Internal Server Error", the sender told its batch failed for good and the log
    # a traceback ending in "PermissionError: The AWS Access Key Id you provided does not exist"
    with _revocable_lake(monkeypatch, tmp_path) as (endpoint, lake):
        app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
        with TestClient(app, base_url="http://testserver") as http:
            def post(event_id):
                return http.post("/v1/events", content=json.dumps(event("artifact_received", NOW,
                                                                        event_id=event_id)),
                                 headers={"Authorization": f"Bearer {INGEST}",
                                          "Content-Type": "application/x-ndjson"})

            assert post("before").json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
            _revoke_credentials(endpoint)
            answer = post("refused")
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["detail"] == (
                "the server may not write to its lake (permission denied or a read-only file "
                "system; the server's log says where and how to fix it); try again in a moment")
            assert "revoked" not in answer.text and endpoint not in answer.text
            line = next(r.getMessage() for r in caplog.records if "answered 503" in r.getMessage())
            assert line.startswith("voice-monitor: POST /v1/events answered 503: the object store "
                                   "refused the lake at s3://revoked/prod: The AWS Access Key Id "
                                   "you provided does not exist"), line
            assert line.endswith("check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_"
                                 "KEY, or AWS_PROFILE) and that they may list, get, put and delete "
                                 "under s3://revoked/prod/"), line


def test_credentials_revoked_under_a_running_server_a_read_is_503_saying_read(
        monkeypatch, tmp_path, caplog):
    # a refused read (GET /api/v1/events) was answered "the server may not write to its lake",
    # as a refused batch is: the staff member reading was told of writes they never asked for
    with _revocable_lake(monkeypatch, tmp_path) as (endpoint, lake):
        land_records(lake, [event("artifact_received", NOW, event_id="before")], now=NOW)
        app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
        with TestClient(app, base_url="http://testserver") as http:
            _revoke_credentials(endpoint)
            answer = http.get("/api/v1/events", headers={"Authorization": f"Bearer {STAFF}"})
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["detail"] == (
                "the server may not read its lake (permission denied; the server's log says "
                "where and how to fix it); try again in a moment")
            line = next(r.getMessage() for r in caplog.records if "answered 503" in r.getMessage())
            assert line.startswith("voice-monitor: GET /api/v1/events answered 503: the object "
                                   "store refused the lake at s3://revoked/prod: "), line


def test_a_batch_of_rejects_makes_no_lake_where_the_prefix_was_deleted(store, caplog):
    # the prefix deleted, a batch of one invalid record was quarantined (200: 0 accepted, 1
    # quarantined) into a bucket now holding only prod/quarantine/...; that folder made the
    # prefix a lake again (Lake.exists keeps it for older lakes) and valid events landed in it
    # without its marker. A mixed batch wrote its quarantine file before the events' 503
    make_bucket(store, "rejects-only")
    lake = Lake.create("s3://rejects-only/prod")
    land_records(lake, [event("artifact_received", NOW, event_id="before")], now=NOW)
    app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    s3 = boto3.resource("s3", endpoint_url=store)
    bad = json.dumps({"event_type": "artifact_received"})  # no event_id, timestamp...
    good = json.dumps(event("artifact_received", NOW, event_id="good"))
    with TestClient(app, base_url="http://testserver") as http:
        def post(*lines):
            return http.post("/v1/events", content="\n".join(lines),
                             headers={"Authorization": f"Bearer {INGEST}",
                                      "Content-Type": "application/x-ndjson"})

        s3.Bucket("rejects-only").objects.filter(Prefix="prod/").delete()
        for lines in ((good, bad), (bad,), (good,)):
            answer = post(*lines)
            assert answer.status_code == 503, (lines, answer.text)
            assert answer.headers["retry-after"] == "1"
            # nothing was made where the lake was
            assert [o.key for o in s3.Bucket("rejects-only").objects.all()] == [], lines
        assert ("voice-monitor: POST /v1/events answered 503: no lake at s3://rejects-only/prod"
                in caplog.text)
    with pytest.raises(NoLakeError, match="^no lake at s3://rejects-only/prod"):
        land_records(lake, [{"event_type": "artifact_received"}], now=NOW)
    assert [o.key for o in s3.Bucket("rejects-only").objects.all()] == []
    Lake.create("s3://rejects-only/prod")  # the lake made again: its rejects are quarantined
    result = land_records(lake, [{"event_type": "artifact_received"}], now=NOW)
    assert (result.accepted, result.quarantined) == (0, 1)


def test_a_query_whose_listed_file_was_compacted_away_meanwhile_runs_again(store, tmp_path,
                                                                           capsys, monkeypatch):
    # `sql` during `compact` on a store: a file the view's glob listed was deleted before
    # DuckDB asked for its details, and the query failed: "Error: Traceback (most recent call
    # last):" (found running sql in a loop beside compact on moto). It is run again, as on a
    # folder, and reads the file its rows moved to
    from voice_monitor.read_through import ReadThrough

    make_bucket(store, "vanishing")
    lake = "s3://vanishing/lake"
    assert run_main(capsys, "init", lake)[0] == 0
    for n in (3, 2):  # two files in the hour 14:00
        source = tmp_path / f"events{n}.jsonl"
        source.write_text("".join(json.dumps(event("artifact_received", NOW)) + "\n"
                                  for _ in range(n)))
        assert run_main(capsys, "ingest", str(source), "--lake", lake, "--now", NOW_ARG)[0] == 0
    s3 = boto3.client("s3", endpoint_url=store)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="vanishing",
                                                       Prefix="lake/events/")["Contents"])
    assert len(keys) == 2
    real, moved = ReadThrough.info, []

    def info(self, path, **kwargs):
        if not moved and path.endswith(keys[1]):
            # compaction meanwhile: the rows put under another name first, then the file deleted
            body = s3.get_object(Bucket="vanishing", Key=keys[1])["Body"].read()
            s3.put_object(Bucket="vanishing", Key=keys[1].replace(".parquet", "~c.parquet"),
                          Body=body)
            s3.delete_object(Bucket="vanishing", Key=keys[1])
            moved.append(path)
            from voice_monitor.read_through import forget

            forget()  # (the listing's details of it forgotten, as another host's would be)
        return real(self, path, **kwargs)

    monkeypatch.setattr(ReadThrough, "info", info)
    code, out, err = run_main(capsys, "sql", "select count(*) as n from events", "--lake", lake,
                              "--json")
    assert moved  # the file went under the query
    assert (code, err) == (0, "")
    assert json.loads(out) == [{"n": 5}]


def test_a_store_that_stops_answering_mid_query_is_one_line_naming_it(tmp_path, capsys,
                                                                      monkeypatch):
    # the store answered the lake's marker and listing, then stopped before DuckDB read a
    # file: it was "voice-monitor: error: Error: Traceback (most recent call last): (run with
    # --debug ...)" (DuckDB keeps only the text of what its fsspec bridge raised)
    from servers import _answers, program, running

    from voice_monitor.read_through import ReadThrough

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {**s3_env(endpoint), "AWS_MAX_ATTEMPTS": "1",
                       "VOICE_MONITOR_STATE_DIR": str(tmp_path / "s")}.items():
        monkeypatch.setenv(key, value)
    argv = [program("moto_server", "uv sync installs moto[server]"), "-H", "127.0.0.1", "-p",
            str(port)]
    with running(argv, tmp_path / "moto.log", _answers(
            lambda: urllib.request.urlopen(endpoint + "/moto-api/", timeout=2))) as moto:
        make_bucket(endpoint, "stops")
        lake = "s3://stops/prod"
        assert run_main(capsys, "init", lake)[0] == 0
        source = tmp_path / "events.jsonl"
        source.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
        assert run_main(capsys, "ingest", str(source), "--lake", lake, "--now", NOW_ARG)[0] == 0
        real = ReadThrough._open

        def store_stops(*args, **kwargs):
            moto.kill()  # after the lake was opened and listed, before DuckDB reads a file
            moto.wait()
            return real(*args, **kwargs)

        monkeypatch.setattr(ReadThrough, "_open", store_stops)
        code, _, err = run_main(capsys, "sql", "select count(*) from events", "--lake", lake)
    assert_one_line_error(code, err, 1)
    assert err.startswith(f"voice-monitor: error: cannot reach the object store of the lake at "
                          f"{lake}: Could not connect to the endpoint URL")
    assert err.strip().endswith(f"check that the store at {endpoint} runs and this host can "
                                "reach it (AWS_ENDPOINT_URL), then run the command again")
