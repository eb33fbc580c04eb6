"""The page's static assets: a fixed list, gzip-compressed once, cached by the browser for good.

Pages name each asset with its content hash (`/static/dashboard.js?v=1a2b3c4d5e6f`, see
`versioned`), so an answer to a URL with the current hash never changes and is cached for a
year (`immutable`); a URL without it (or with an old hash) must be revalidated, and an unchanged
file is answered 304 from its `ETag`. Compressed bytes are made once per file and process
(Plotly's bundle: 1.2 MB, 0.4 MB gzipped) and sent to every browser that accepts gzip.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

STATIC = Path(__file__).resolve().parent / "static"
PLOTLY_JS = STATIC / "vendor" / "plotly-basic.min.js"  # see static/vendor/README.md
FILES = {  # the only files /static/ serves: name -> (path, media type)
    "dashboard.js": (STATIC / "dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": (STATIC / "dashboard.css", "text/css; charset=utf-8"),
    "plotly-basic.min.js": (PLOTLY_JS, "text/javascript; charset=utf-8"),
}
FOREVER = "public, max-age=31536000, immutable"  # the URL names the content
REVALIDATE = "no-cache"  # kept, but asked again with If-None-Match before each use

router = APIRouter()


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    version: str  # the first 12 hex digits of the body's SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


_loaded: dict[str, tuple[int, Asset]] = {}  # name -> (file's mtime, asset)
_lock = threading.Lock()


def asset(name: str) -> Asset:
    """The asset `name` of FILES, read and compressed again only when its file changed."""
    path, media_type = FILES[name]
    mtime = path.stat().st_mtime_ns
    with _lock:
        found = _loaded.get(name)
        if found is None or found[0] != mtime:
            body = path.read_bytes()
            found = (mtime, Asset(body, gzip.compress(body, 6, mtime=0), media_type,
                                  hashlib.sha256(body).hexdigest()[:12]))
            _loaded[name] = found
    return found[1]


def versioned(name: str) -> str:
    """The URL a page names `name` by: it changes whenever the file does."""
    return f"/static/{name}?v={asset(name).version}"


def load_all() -> None:
    """Read and compress every asset now (the server's warm-up), not at a browser's first ask."""
    for name in FILES:
        asset(name)


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00"):
            return True
    return False


@router.get("/static/{name}", include_in_schema=False)
def static(request: Request, name: str, v: str | None = None) -> Response:
    """One of the page's assets (no data in them, so no sign-in needed)."""
    if name not in FILES:
        raise HTTPException(404, f"no asset {name!r}")
    found = asset(name)
    headers = {"ETag": found.etag, "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff",
               "Cache-Control": FOREVER if v == found.version else REVALIDATE}
    if found.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        return Response(found.gzipped, media_type=found.media_type,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(found.body, media_type=found.media_type, headers=headers)
