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
    # its holder died an hour ago: further back than any two clocks that reach S3 differ
    dead = json.dumps({"owner": "host-a:1:dead", "expires": time.time() - 3600}).encode()

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


def _lease_path(endpoint, monkeypatch, name):
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    return storage.lake_path(f"s3://leases/{name}") / "alerts" / ".lock"


def test_a_live_lease_of_a_host_whose_clock_is_behind_is_not_taken(endpoint, monkeypatch):
    path = _lease_path(endpoint, monkeypatch, "behind")
    # written just now, for 120 s, by a host whose clock is 10 minutes behind this one's: its
    # expiry is 8 minutes ago here. It was taken at once, and two check runs wrote the alert log
    live = {"owner": "host-b:1:live", "expires": time.time() - 600 + 120}
    storage.put(path, json.dumps(live).encode())
    with pytest.raises(TimeoutError, match="held by 'host-b:1:live'"), \
            storage.lease(path, wait_s=1):
        pass
    assert json.loads(path.fs.cat_file(path.path)) == live


def test_a_dead_lease_of_a_host_whose_clock_was_ahead_is_taken_after_its_life(endpoint,
                                                                                monkeypatch):
    path = _lease_path(endpoint, monkeypatch, "ahead")
    # its holder's clock an hour ahead, then it died: the lease named an expiry an hour away,
    # and no check run could write the alert log for that hour. Seen unchanged for its life
    # (here 1 s) by the taker's own clock, it is taken over
    dead = {"owner": "host-c:1:dead", "expires": time.time() + 3600}
    storage.put(path, json.dumps(dead).encode())
    with storage.lease(path, lease_s=1, wait_s=30):
        assert json.loads(path.fs.cat_file(path.path))["owner"] != "host-c:1:dead"
    assert not path.fs.exists(path.path)


def test_a_holder_whose_lease_was_taken_over_leaves_its_successors_lease(endpoint,
                                                                         monkeypatch):
    path = _lease_path(endpoint, monkeypatch, "successor")
    successor = json.dumps({"owner": "host-d:1:next", "expires": time.time() + 120}).encode()
    with storage.lease(path, wait_s=5):
        mine = path.fs.cat_file(path.path)
        # this holder overran its lease; another host took it over (a new version) ...
        storage.put(path, successor)
        # ... between this holder's reading its lease back (its own owner: check-then-delete
        # deleted it) and its DELETE
        monkeypatch.setattr(path.fs, "cat_file", lambda *a, **k: mine)
    monkeypatch.undo()
    assert path.fs.cat_file(path.path) == successor
