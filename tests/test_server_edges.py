"""`voice-monitor serve` as a client on another host sees it: odd and hostile requests against a
real server process, each answer checked against docs/server.md (status, a message naming the
fault, nothing leaked)."""

from __future__ import annotations

import pytest
from server_process import STAFF, ServerProcess, bearer, client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    with ServerProcess(root / "lake", log=root / "server.log") as running, client() as http:
        running.http = http
        yield running


def test_a_chart_refuses_an_unknown_or_repeated_query_parameter(server):
    # as every other /api/v1 endpoint: a misspelt parameter is named, never ignored
    url = server.url + "/api/v1/charts/throughput"
    response = server.http.get(url, params={"hour": "2"}, headers=bearer(STAFF))
    assert response.status_code == 400
    assert response.json()["detail"] == ("unknown query parameter 'hour' for "
                                         "/api/v1/charts/throughput; it takes: hours, now")
    response = server.http.get(url + "?hours=2&hours=3", headers=bearer(STAFF))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("query parameter 'hours' is given 2 times")
    assert server.http.get(url, params={"hours": "2"}, headers=bearer(STAFF)).status_code == 200
