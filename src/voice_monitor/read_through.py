"""What DuckDB reads an object-store lake through: the lake's fsspec filesystem, with fewer
requests.

Reading one Parquet file through DuckDB's fsspec bridge costs about seven HEAD requests and two
GETs (DuckDB asks for the size and the modification time twice and opens the file twice); on a
store every request is a round trip. `ReadThrough` answers those questions once:

- file details (size, ETag, modification time) come from the LIST a glob just made, else from
  one HEAD, and are reused for `DETAILS_TTL_S` seconds — no longer, since another host may
  replace a key (a snapshot partition) at any moment; this process's own PUTs forget them at
  once (`forget`). A key replaced by another host inside that second reads as before or after
  the change, or fails the query (a size that no longer matches): never as a mix;
- file contents are fetched in one GET and kept, by key and ETag (an ETag names one content),
  up to `CONTENT_CACHE_BYTES`, least recently used first out.

Listings are never cached: a glob always lists the store, in one flat LIST of the prefix
above its first wildcard.

Used by `storage.register` for object-store lakes only; a local lake never comes here.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections import OrderedDict
from typing import Any, ClassVar

from fsspec import AbstractFileSystem
from fsspec.utils import glob_translate

DETAILS_TTL_S = 1.0
CONTENT_CACHE_BYTES = 128 * 1024 * 1024

_lock = threading.Lock()
_details: dict[str, tuple[float, dict]] = {}
_contents: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_content_bytes = [0]


def forget() -> None:
    """Drop every remembered file detail (this process just wrote to the store)."""
    with _lock:
        _details.clear()


class ReadThrough(AbstractFileSystem):
    """A read-mostly view of `fs` for DuckDB (see the module docstring); writes pass through."""

    cachable = False  # one per wrapped filesystem, made by `over`
    _wrappers: ClassVar[dict[int, ReadThrough]] = {}

    def __init__(self, fs: AbstractFileSystem):
        super().__init__()
        self.fs = fs
        self.protocol = fs.protocol

    @classmethod
    def over(cls, fs: AbstractFileSystem) -> ReadThrough:
        """The wrapper of `fs` (one per filesystem instance)."""
        with _lock:
            return cls._wrappers.setdefault(id(fs), cls(fs))

    def _key(self, path: str) -> str:
        return self.fs._strip_protocol(path)

    def _held(self, path: str) -> str:
        """The key under which a file's details and bytes are kept: its store's protocol too
        (the same bucket and key on two stores are two files)."""
        protocol = self.fs.protocol
        return f"{protocol if isinstance(protocol, str) else protocol[0]}://{self._key(path)}"

    def _remember(self, entries: dict[str, dict]) -> None:
        now = time.monotonic()
        with _lock:
            for name, info in entries.items():
                if info.get("type") == "file":
                    _details[self._held(name)] = (now, info)

    def glob(self, path, maxdepth=None, **kwargs):
        detail = kwargs.pop("detail", False)
        pattern = self._key(path)
        wild = min((pattern.find(c) for c in "*?[" if c in pattern), default=-1)
        if maxdepth is not None:
            found = self.fs.glob(path, maxdepth=maxdepth, detail=True, **kwargs)
        elif wild < 0:  # a file named in full (DuckDB globs every path it is given)
            try:
                found = {pattern: self.info(path)}
            except FileNotFoundError:
                found = {}
        else:
            # one flat, paged LIST of the prefix above the first wildcard, matched here: fsspec
            # would list every directory level of `date=*/hour=*/*.parquet` one LIST at a time
            match = re.compile(glob_translate(pattern)).match
            try:
                listed = self.fs.find(pattern[:wild].rsplit("/", 1)[0], detail=True)
            except FileNotFoundError:
                listed = {}
            found = {name: info for name, info in listed.items() if match(name)}
        self._remember(found)
        return found if detail else list(found)

    def info(self, path, **kwargs):
        with _lock:
            hit = _details.get(self._held(path))
        if hit and time.monotonic() - hit[0] < DETAILS_TTL_S:
            return hit[1]
        info = self.fs.info(path, **kwargs)
        self._remember({self._key(path): info})
        return info

    def modified(self, path):
        info = self.info(path)
        if "LastModified" in info:
            return info["LastModified"]
        return self.fs.modified(path)

    def ls(self, path, detail=True, **kwargs):
        return self.fs.ls(path, detail=detail, **kwargs)

    def _open(self, path, mode="rb", **kwargs) -> Any:
        if "r" not in mode:
            forget()
            return self.fs.open(path, mode, **kwargs)
        info = self.info(path)
        version = str(info.get("ETag") or info.get("created") or "")
        key = (self._held(path), f"{version}:{info.get('size')}")
        with _lock:
            data = _contents.get(key)
            if data is not None:
                _contents.move_to_end(key)
        if data is None:
            data = self.fs.cat_file(path)
            if version:
                self._keep(key, data)
        return io.BytesIO(data)

    @staticmethod
    def _keep(key: tuple[str, str], data: bytes) -> None:
        if len(data) > CONTENT_CACHE_BYTES // 4:
            return
        with _lock:
            if key not in _contents:
                _contents[key] = data
                _content_bytes[0] += len(data)
            while _content_bytes[0] > CONTENT_CACHE_BYTES:
                _, old = _contents.popitem(last=False)
                _content_bytes[0] -= len(old)

    def rm(self, path, recursive=False, maxdepth=None):
        forget()
        return self.fs.rm(path, recursive=recursive, maxdepth=maxdepth)

    def mkdir(self, path, create_parents=True, **kwargs):
        return self.fs.mkdir(path, create_parents=create_parents, **kwargs)

    def makedirs(self, path, exist_ok=False):
        return self.fs.makedirs(path, exist_ok=exist_ok)
