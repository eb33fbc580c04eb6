"""A producer refused by the collector (a wrong token) says it gave up at once, as it did.

Its error said "failed after 8 retries" although a 401 is never retried (stats.retries 0).
"""

from __future__ import annotations

import pytest
from conftest import NOW, event
from server_process import ServerProcess

from voice_monitor import Producer
from voice_monitor.producer import ProducerError

pytestmark = pytest.mark.slow


def test_a_wrong_token_fails_at_once_and_says_so(tmp_path):
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        producer = Producer(url=server.url, token="wrong-token-0123456789abcdef")
        producer.emit(event("artifact_received", NOW))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    message = str(raised.value)
    assert "failed at once (a refusal that retrying cannot fix) (1 events not landed" in message
    assert "(401)" in message and "retries" not in message.split("(1 events")[0]
    assert producer.stats.retries == 0 and producer.stats.unlanded == 1
