"""The lease that stands for a lock on an object store (`storage.lease`: the alert log's lock,
contract §9 and §13: two check runs on two hosts raise an alert once), on a real S3-protocol
server (`moto_server`) on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest
from servers import make_bucket, s3_env, s3_server

from voice_monitor import storage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto")) as url:
        make_bucket(url, "leases")
        yield url


def _once(real, first):
    """`real`, except that its first call answers `first`."""
    calls = []

    def call(*args, **kwargs):
        calls.append(args)
        return first if len(calls) == 1 else real(*args, **kwargs)

    return call


def test_an_expired_lease_is_taken_over_by_one_taker_not_two(endpoint, monkeypatch):
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    path = storage.lake_path("s3://leases/lake") / "alerts" / ".lock"
    dead = json.dumps({"owner": "host-a:1:dead", "expires": time.time() - 1}).encode()

    storage.put(path, dead)  # its holder died: the next taker takes it over
    with storage.lease(path, wait_s=5):
        assert json.loads(path.fs.cat_file(path.path))["owner"] != "host-a:1:dead"
    assert not path.fs.exists(path.path)  # released

    storage.put(path, dead)
    # B reads the dead holder's lease (its version, then its body) ...
    stale_info, stale_body = path.fs.info(path.path), path.fs.cat_file(path.path)
    with storage.lease(path, wait_s=5):  # ... A takes it over ...
        mine = path.fs.cat_file(path.path)
        # ... and B acts on what it read only now: it deleted A's lease and made its own, both
        # then wrote the alert log as its only writer
        with monkeypatch.context() as patched:
            patched.setattr(path.fs, "info", _once(path.fs.info, stale_info))
            patched.setattr(path.fs, "cat_file", _once(path.fs.cat_file, stale_body))
            with pytest.raises(TimeoutError, match=r"held by '.+' for over 1 s"), \
                    storage.lease(path, wait_s=1):
                pass
        assert path.fs.cat_file(path.path) == mine  # A's lease, untouched
    assert not path.fs.exists(path.path)
