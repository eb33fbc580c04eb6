"""`voice-monitor serve` runs on uvicorn's fast parts: the httptools parser and uvloop's event loop
(dependencies of the project, picked by uvicorn's "auto" when installed). If a change of the lock
dropped them, the collector would fall back to h11 and asyncio's loop silently and lose ~0.7 CPU
us per event on its HTTP side (bench/RESULTS.md, "The collector, sixth session")."""

from __future__ import annotations

import sys

import pytest
import uvicorn


async def _app(scope, receive, send):  # pragma: no cover (never called: only loaded)
    pass


def test_uvicorn_as_serve_configures_it_picks_httptools_and_uvloop():
    config = uvicorn.Config(_app, loop="auto", http="auto")  # serve leaves both at "auto"
    config.load()
    assert config.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"
    if sys.platform == "win32":
        pytest.skip("uvloop does not run on Windows")
    import uvloop

    loop = config.get_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
