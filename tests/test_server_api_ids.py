"""Artifact ids are any 1-256 printable characters, `/` included: the API must find them.

`GET /api/v1/artifacts/tenant%2Fa/timeline` was 404 Not Found (the server decodes %2F before
routing), so neither a script nor the dashboard's timeline could show such an artifact.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from conftest import NOW, event
from server_process import INGEST, STAFF, ServerProcess, bearer, client

pytestmark = pytest.mark.slow

ODD = "tenant/a b?#%1"


def test_an_artifact_id_with_a_slash_has_a_timeline_and_retries(tmp_path):
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server, client() as http:
        body = "\n".join(json.dumps(e) for e in [
            event("artifact_received", NOW, artifact_id=ODD),
            event("retry_initiated", NOW + timedelta(seconds=1), artifact_id=ODD),
            event("artifact_received", NOW, artifact_id="tenant"),
        ])
        sent = http.post(server.url + "/v1/events", content=body,
                         headers={**bearer(INGEST), "Content-Type": "application/x-ndjson"})
        assert sent.json()["accepted"] == 3
        base = f"{server.url}/api/v1/artifacts/{quote(ODD, safe='')}"
        timeline = http.get(base + "/timeline", headers=bearer(STAFF))
        assert timeline.status_code == 200, timeline.text
        assert timeline.json()["artifact_id"] == ODD
        assert [r["event_type"] for r in timeline.json()["rows"]] == ["artifact_received",
                                                                     "retry_initiated"]
        retries = http.get(base + "/retries", headers=bearer(STAFF)).json()["rows"]
        assert [r["event_type"] for r in retries] == ["retry_initiated"]
        # the fixed routes beside it are unchanged
        failed = http.get(server.url + "/api/v1/artifacts/failed", headers=bearer(STAFF))
        assert failed.status_code == 200 and failed.json()["rows"] == []
