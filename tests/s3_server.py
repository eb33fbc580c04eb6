"""A real S3-protocol server (moto's standalone `moto_server`) on 127.0.0.1, for lake tests."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server_process import free_port


def s3_env(endpoint: str) -> dict[str, str]:
    """The standard AWS settings a client needs for this server (dummy credentials)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server(workdir: Path) -> Iterator[str]:
    """`moto_server` on a free port; yields its endpoint URL (http://127.0.0.1:PORT)."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    log = open(workdir / f"moto-{port}.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start: "
                                       + (workdir / f"moto-{port}.log").read_text()[-2000:]
                                       ) from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def make_bucket(endpoint: str, bucket: str) -> None:
    """Create `bucket` on the server."""
    import boto3

    env = s3_env(endpoint)
    boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"],
                 aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)


__all__ = ["make_bucket", "s3_env", "s3_server"]
