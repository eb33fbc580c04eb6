"""Where lake bytes live: a local folder (pathlib, the default) or an object store (fsspec).

The lake's paths are `pathlib.Path` for a local lake and `upath.UPath` (the pathlib API over
fsspec; s3fs for `s3://`) for a lake on object storage, so layout code joins, lists and tests
paths the same way for both. What differs — how a file is published, how a tree is removed,
how a lock is held, how DuckDB and Arrow reach the bytes — is decided here and in `lake.Lake`,
nowhere else.

Object stores have no rename and no locks, so on them:
- a file is published by one PUT of its complete bytes under a fresh unique name (a reader
  sees all of it or nothing; no temp file, no `.tmp/`);
- a lock is a lease object created with a conditional PUT (`If-None-Match: *`), see `lock`;
- a partition is removed by deleting its prefix.

Settings come from the standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for S3-compatible stores, `AWS_PROFILE`...), which
botocore reads itself.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from voice_monitor.read_through import ReadThrough, forget

# object-store schemes a lake may use ("memory" is fsspec's in-process store, for tests)
REMOTE_SCHEMES = ("s3", "s3a", "memory")
STATE_DIR_ENV = "VOICE_MONITOR_STATE_DIR"
LOCK_LEASE_S = 120.0

# protocol -> fsspec filesystem (one store a protocol: see `_protocol_of_store`), for every
# DuckDB connection
_registered: dict[str, Any] = {}


def scheme_of(root: str) -> str | None:
    """The URL scheme of `root` ("s3"), or None for a plain local path."""
    head, sep, _ = root.partition("://")
    return head.lower() if sep and head.isalnum() else None


def lake_path(root: str | os.PathLike[str] | Any) -> Any:
    """`Path` for a local root, `UPath` for `s3://bucket/prefix` (and `memory://`)."""
    if is_remote(root):
        return root
    text = os.fspath(root)
    scheme = scheme_of(text)
    if scheme is None:  # '~/lake' from a config file, an env file or Python: the home folder
        return Path(os.path.expanduser(text))
    if _is_alias(scheme):  # a path this process named by its store (s3store2://): that store's
        return _upath(text, _store_options[scheme])
    if scheme not in REMOTE_SCHEMES:
        raise ValueError(f"unsupported lake URL {text!r}; use a local folder or "
                         f"s3://bucket/prefix")
    if scheme != "memory":
        _check_bucket(text)
    _check_key(text)
    # 'S3://' (fsspec knows no 'S3') and Hadoop's 's3a://' are s3://: listings name every
    # file s3://…, and a root spelled otherwise matched none of them (`sql` refused each file)
    text = ("s3" if scheme == "s3a" else scheme) + text[len(scheme):]
    # no listings cache: another host may have written since this process last listed
    # a lake file is small and read whole (Parquet footer, then its columns): fetch it in one
    # GET ("all") rather than a ranged GET per read
    options: dict[str, Any] = {"use_listings_cache": False, "default_cache_type": "all"}
    if scheme != "memory" and os.environ.get("AWS_ENDPOINT_URL"):
        # fsspec hands out one filesystem per set of options: with the endpoint among them, a
        # lake on another store (another AWS_ENDPOINT_URL) gets its own client, not the first's
        options["endpoint_url"] = _check_endpoint(os.environ["AWS_ENDPOINT_URL"])
    if scheme != "memory" and _retry_mode_unset():
        # botocore's legacy mode makes 5 attempts with backoff up to 8 s for a store that
        # refuses the connection (~20 s a command); standard: 3 (the AWS SDKs' default). A
        # store's SlowDown is retried by s3fs too; a flow retries its task on top.
        options["config_kwargs"] = {"retries": {"mode": "standard"}}
    if scheme != "memory":
        # one protocol name per store (endpoint and credentials): the first store this process
        # opens reads `s3://`, each other store `s3storeN://`, its own filesystem class, so a
        # path names its store and DuckDB, which reads each protocol through one filesystem,
        # reads every lake through its own store's client (it read every `s3://` through the
        # newest lake's: two lakes at one URL on two stores read one store)
        protocol = _protocol_of_store(_store_identity(options.get("endpoint_url")))
        _store_options[protocol] = options
        text = protocol + "://" + text.split("://", 1)[1]
    return _upath(text, options)


def _upath(text: str, options: dict[str, Any]) -> Any:
    from upath import UPath

    path = UPath(text.rstrip("/") or text, **options)
    _registered[path.fs.protocol[0] if isinstance(path.fs.protocol, tuple)
                else path.fs.protocol] = path.fs  # DuckDB reads a store's lakes through it
    return path


# store (endpoint, credentials) -> the protocol its paths use in this process; "s3" the first
_store_protocols: dict[tuple[str, str, str], str] = {}
_store_options: dict[str, dict[str, Any]] = {}  # protocol -> the options its filesystem takes


def forget_stores() -> None:
    """Start naming stores afresh: the next store opened reads `s3://` (for tests, each of which
    stands for a process of its own; lakes already open keep their store and name)."""
    _store_protocols.clear()
    _store_options.clear()


def _store_identity(endpoint: str | None) -> tuple[str, str, str]:
    """What tells two S3-protocol stores (or two accounts on one) apart: the endpoint, the access
    key id and the profile (no secret)."""
    return (endpoint or "", os.environ.get("AWS_ACCESS_KEY_ID", ""),
            os.environ.get("AWS_PROFILE", ""))


_naming = threading.Lock()  # two threads opening two new stores name them apart


def _protocol_of_store(identity: tuple[str, str, str]) -> str:
    with _naming:
        return _store_protocols.get(identity) or _name_store(identity)


def _name_store(identity: tuple[str, str, str]) -> str:
    """A new store's protocol: `s3` for the first, else `s3storeN` with its own classes."""
    protocol = "s3" if not _store_protocols else f"s3store{len(_store_protocols) + 1}"
    if protocol != "s3":
        import fsspec
        from s3fs import S3FileSystem
        from upath.implementations.cloud import S3Path
        from upath.registry import register_implementation

        # its own class: fsspec keeps one cache of instances a class, and names paths by it
        store = type(f"S3Store{len(_store_protocols) + 1}", (S3FileSystem,),
                     {"protocol": (protocol,)})
        fsspec.register_implementation(protocol, store, clobber=True)
        register_implementation(protocol, S3Path, clobber=True)
        from upath._flavour import WrappedFileSystemFlavour

        config = WrappedFileSystemFlavour.protocol_config  # paths split as s3's: bucket first
        for protocols in config.values():
            if isinstance(protocols, set) and "s3" in protocols:
                protocols.add(protocol)
            elif isinstance(protocols, dict) and "s3" in protocols:
                protocols[protocol] = protocols["s3"]
    _store_protocols[identity] = protocol
    return protocol


def _is_alias(scheme: str | None) -> bool:
    """Whether `scheme` is the protocol this process gave a store other than its first."""
    return scheme != "s3" and scheme in _store_options


def _store_scheme(scheme: str | None) -> str | None:
    """The scheme a path's scheme stands for: `s3` for `s3store2` (another store's), else itself."""
    return "s3" if _is_alias(scheme) else scheme


def is_store_url(text: str) -> bool:
    """Whether `text` is an object-store URL (`s3://…`, another store's `s3store2://…`)."""
    scheme = scheme_of(text)
    return scheme in REMOTE_SCHEMES or _is_alias(scheme)


def _retry_mode_unset() -> bool:
    """Whether no retry mode is configured for botocore (AWS_RETRY_MODE, or retry_mode in the
    AWS config file's profile): those are the user's to choose."""
    from botocore.exceptions import BotoCoreError
    from botocore.session import get_session

    if os.environ.get("AWS_RETRY_MODE"):
        return False
    try:
        return "retry_mode" not in get_session().get_scoped_config()
    except BotoCoreError:  # e.g. AWS_PROFILE names no profile: botocore says so at the request
        return True


def _check_bucket(url: str) -> None:
    """Refuse an object-store URL without a bucket (`s3://` became the local folder `s3:`), or
    whose bucket no store has nor lets be made, before the store's "Parameter validation
    failed:" or "no bucket ...; create the bucket", which could never be done: 3 to 255
    letters, digits, dots, hyphens and underscores (botocore's own rule). S3 names today are
    narrower (3 to 63, lower case, first and last a letter or digit, no `..`), but buckets made
    in us-east-1 before March 2018, and Ceph's with rgw_relaxed_s3_bucket_names, may end with
    `-` or `.` or hold `..` (Ceph's may begin with `_`, `-` or `.`): such a lake is taken."""
    bucket = url.partition("://")[2].split("/", 1)[0]
    if not bucket:
        raise ValueError(f"lake URL {url!r} names no bucket; use s3://bucket/prefix")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"lake URL {url!r}: {bucket!r} is not a bucket name (letters, digits, "
                         "dots, hyphens and underscores); use s3://bucket/prefix")
    if not 3 <= len(bucket) <= 255:
        raise ValueError(f"lake URL {url!r}: {bucket!r} is not a bucket name ({len(bucket)} "
                         "characters; a bucket name has 3 to 63, or up to 255 if made in "
                         "us-east-1 before March 2018); use s3://bucket/prefix")


_BUCKET = re.compile(r"[A-Za-z0-9._-]+")


def _check_key(url: str) -> None:
    """Refuse an object-store URL whose prefix holds an empty, `.` or `..` segment
    (`s3://bucket//prefix`, `s3://bucket/a/./b`): a store keeps the key `/prefix/…` apart from
    `prefix/…`, and s3fs read some of them one way and wrote the other, so such a URL took the
    lake at `s3://bucket/prefix` as its own while writing snapshots beside it, unseen by it."""
    head, _, rest = url.partition("://")
    bucket, _, key = rest.rstrip("/").partition("/")
    segments = key.split("/") if key else []
    if not any(segment in ("", ".", "..") for segment in segments):
        return
    normal = posixpath.normpath("/" + key).lstrip("/")
    head = "s3" if head.lower() == "s3a" else head.lower()
    meant = f"{head}://{bucket}/{normal}" if normal else f"{head}://{bucket}"
    raise ValueError(f"lake URL {url!r} has an empty, '.' or '..' part in its prefix; an object "
                     f"store takes such a key literally, as another place than {meant!r}: "
                     f"write the prefix without it, e.g. {meant}")


def _check_endpoint(endpoint: str) -> str:
    """`endpoint` (AWS_ENDPOINT_URL) without the blanks around it (an env file's trailing space
    or newline) if it is an http(s) URL with a host and a numeric port, if any; else a
    ValueError naming the variable, before any request (botocore said "Invalid endpoint:
    minio:9000" or "EndpointResolutionError: Custom endpoint ... was not a valid URI", naming
    neither the variable nor the form it wants)."""
    from urllib.parse import urlsplit

    endpoint = endpoint.strip()  # checked stripped, so handed on stripped
    try:
        parts = urlsplit(endpoint)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"AWS_ENDPOINT_URL {endpoint!r} is not the URL of an S3-compatible "
                         "store; use http(s)://host[:port], e.g. https://minio.internal:9000, "
                         "or unset it for AWS S3")
    return endpoint


class StoreUnreachableError(ConnectionError):
    """The object store of a lake did not answer (refused, timed out, dropped the connection):
    an I/O error, over once the store is back (flows retry it; the server answers 503)."""


def unreachable(exc: BaseException | None) -> BaseException | None:
    """The store's connection failure behind `exc` (botocore's ConnectionError and
    HTTPClientError: endpoint not answering, connect or read timeout, connection closed),
    found along its causes; else None. botocore raises them as they are, no OSError, so
    nothing took them for I/O: a one-line "EndpointConnectionError: ..." at the CLI, a 500 from
    the server, no retry in a flow."""
    errors = sys.modules.get("botocore.exceptions")
    if errors is None:  # botocore never loaded: no request was made to a store
        return None
    return _along_causes(exc, lambda e: isinstance(
        e, errors.ConnectionError | errors.HTTPClientError | StoreUnreachableError)) or (
        _bridged(exc, _UNREACHABLE_NAMES, ConnectionError))


def unreachable_message(root: Any, exc: BaseException) -> str:
    """One line: the lake whose store did not answer, the store, why, and what to check."""
    endpoint = (getattr(getattr(root, "fs", None), "endpoint_url", None)
                or os.environ.get("AWS_ENDPOINT_URL"))
    where = (f"the store at {endpoint} runs and this host can reach it (AWS_ENDPOINT_URL)"
             if endpoint else "this host can reach S3 (network, proxy, AWS_DEFAULT_REGION)")
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return (f"cannot reach the object store of the lake at {root}: {reason}; check that {where},"
            " then run the command again")


class StoreAccessError(PermissionError):
    """The object store of a lake refused this process (no credentials, wrong ones, or too
    few rights on the bucket)."""


def refused(exc: BaseException | None) -> BaseException | None:
    """The store's refusal behind `exc`, found along its causes: botocore's NoCredentialsError
    or PartialCredentialsError, or the PermissionError s3fs makes of the store's 403 answer
    (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, ...); else None."""
    errors = sys.modules.get("botocore.exceptions")
    if errors is None:
        return None
    found = _along_causes(exc, lambda e: isinstance(
        e, errors.NoCredentialsError | errors.PartialCredentialsError | StoreAccessError) or (
        isinstance(e, PermissionError) and isinstance(e.__cause__, errors.ClientError)))
    if found is None and _bridged(exc, ("NoCredentialsError", "PartialCredentialsError")):
        return errors.NoCredentialsError()
    return found or _bridged(exc, ("PermissionError",), PermissionError)


# botocore's errors for a store that does not answer (ConnectionError's and HTTPClientError's
# kinds), as a DuckDB error's text names them
_UNREACHABLE_NAMES = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                      "ConnectionClosedError", "ProxyConnectionError", "SSLError",
                      "ConnectionError", "HTTPClientError", "StoreUnreachableError")
_RAISED = re.compile(r"^(?:\w+\.)*(\w+): (.+)$", re.M)


def _bridged(exc: BaseException | None, names: tuple[str, ...], kind: type = Exception
             ) -> BaseException | None:
    """The Python error of one of the classes `names` that a DuckDB error along `exc`'s causes
    says in its text, as a `kind` with its message; else None. DuckDB reading a store through
    fsspec keeps only the traceback's text of what the filesystem raised, so a store that
    stopped answering mid-query read "Error: Traceback (most recent call last):", no more."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is None:
        return None
    found = _along_causes(exc, lambda e: isinstance(e, duckdb.Error)
                          and "Traceback (most recent call last):" in str(e))
    if found is None:
        return None
    for name, message in reversed(_RAISED.findall(str(found))):  # the last raised first
        if name in names:
            return kind(message.strip())
    return None


def _along_causes(exc: BaseException | None, matches) -> BaseException | None:
    """The first of `exc` and its causes (or contexts), in turn, that `matches`; else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if matches(exc):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def refused_message(root: Any, exc: BaseException) -> str:
    """One line: the lake whose store refused this process, why, and which settings to check."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    credentials = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
    if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return (f"no credentials for the object store of the lake at {root} ({reason}); set "
                f"{credentials} (or give the host a role) where this command runs")
    return (f"the object store refused the lake at {root}: {reason}; check the credentials "
            f"({credentials}) and that they may list, get, put and delete under "
            f"{str(root).rstrip('/')}/")


@contextmanager
def reaching(root: Any) -> Iterator[None]:
    """Turn a connection failure to the store of the lake at `root` (a lake on an object store)
    into a `StoreUnreachableError`, and its refusal of this process's credentials into a
    `StoreAccessError`, each naming the lake and what to check."""
    try:
        yield
    except (StoreUnreachableError, StoreAccessError):
        raise
    except Exception as exc:
        if not is_store_url(str(root)):
            raise
        cause = unreachable(exc)
        if cause is not None:
            raise StoreUnreachableError(unreachable_message(root, cause)) from exc
        cause = refused(exc)
        if cause is not None:
            raise StoreAccessError(refused_message(root, cause)) from exc
        raise


def is_remote(path: Any) -> bool:
    """Whether `path` lives on an object store (anything that is not a local `Path`)."""
    return not isinstance(path, (str, Path, os.PathLike)) and hasattr(path, "fs")


def url(path: Any) -> str:
    """The path as DuckDB and users see it: a local path, or `s3://bucket/key`."""
    return str(path)


def shared_url(path: Any) -> str:
    """The URL another process opens the lake at `path` by (a Dask worker): `s3://…` for a lake
    this process reads as `s3store2://…` (its second store; the worker's own `AWS_*` settings
    name the store)."""
    text = str(path)
    scheme = scheme_of(text)
    return "s3" + text[len(scheme):] if _is_alias(scheme) else text


def read_as_shared(con, path: Any) -> str | None:
    """On `con`, read `s3://` through the store of `path` when this process names that store
    otherwise (`s3store2://…`), so that SQL written for another process (a catalog's views,
    `shared_url`'s paths) binds against the right store; returns the protocol replaced, else
    None. The store's own client, no ReadThrough: its cache keys `s3://` to the first store."""
    scheme = scheme_of(str(path))
    if not _is_alias(scheme):
        return None
    from s3fs import S3FileSystem

    if "s3" in set(con.list_filesystems()):
        con.unregister_filesystem("s3")
    con.register_filesystem(S3FileSystem(**_store_options[scheme]))
    return scheme


def register_filesystems(con, have: dict[str, Any] | None = None) -> dict[str, Any]:
    """Let a DuckDB connection read object-store paths (fsspec; DuckDB's httpfs when loaded
    would need its own credentials, and cannot be installed offline).

    `have` is what the connection was given before (protocol -> filesystem, as returned here):
    a protocol whose filesystem has since been replaced (a lake on another store, another
    `AWS_ENDPOINT_URL`) is registered again, so the connection never reads through a client of
    a store the process has moved away from.
    """
    have = dict(have or {})
    present = None
    for protocol, fs in list(_registered.items()):
        if have.get(protocol) is fs:
            continue
        present = set(con.list_filesystems()) if present is None else present
        if protocol in present:
            con.unregister_filesystem(protocol)
        con.register_filesystem(ReadThrough.over(fs))
        have[protocol] = fs
    return have


# -- publishing --------------------------------------------------------------------------------
# every lake file: zstd, statistics, and a CRC per page, so damage inside a page that still
# decodes (values silently changed: timestamps moved out of their hour) is found by `lake check`
PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True, "write_page_checksum": True}


def parquet_bytes(table: pa.Table, **options) -> bytes:
    """A complete Parquet file in memory (zstd, statistics, page checksums), for a single PUT."""
    sink = io.BytesIO()
    pq.write_table(table, sink, **{**PARQUET_OPTIONS, **options})
    return sink.getvalue()


def put(path: Any, data: bytes) -> None:
    """Publish `data` at a remote `path` with one PUT (atomic: all of it or nothing)."""
    path.fs.pipe_file(path.path, data)
    forget()


def put_new(path: Any, data: bytes) -> bool:
    """Create `path` only if nothing is there (conditional PUT, `If-None-Match: *`); whether it
    was created."""
    return _put_new_version(path, data) is not False


def put_over(path: Any, data: bytes, etag: str) -> bool:
    """Replace the object at `path` only while it is still the version `etag` (conditional PUT,
    `If-Match`); whether it was replaced. A store that cannot (501) is written over plainly."""
    return _put_over_version(path, data, etag) is not False


def remove_tree(path: Any) -> None:
    """Delete every object under a remote prefix (and the object itself, if any)."""
    with suppress(FileNotFoundError):
        path.fs.rm(path.path, recursive=True)


def find(path: Any) -> list[str]:
    """Keys of every object under a remote prefix, relative to it, in one paged LIST."""
    base = path.path.rstrip("/") + "/"
    try:
        found = path.fs.find(base)
    except FileNotFoundError:
        return []
    return sorted(key[len(base):] for key in found if key.startswith(base))


def matches_any(base: Any, pattern: str) -> bool:
    """Whether any file under the folder `base` matches the glob `pattern` (on a store: one flat
    LIST of `base`, where pathlib-style globbing lists each directory level)."""
    if not is_remote(base):
        return any(base.glob(pattern))
    return bool(ReadThrough.over(base.fs).glob(f"{base.path.rstrip('/')}/{pattern}"))


# -- reading -----------------------------------------------------------------------------------
def _remote_or_none(path: Any) -> Any:
    """`path` as a remote path when it is one (a `UPath`, or an `s3://…` string), else None."""
    if is_remote(path):
        return path
    if isinstance(path, str) and is_store_url(path):
        scheme = scheme_of(path)
        if scheme in ("s3", "s3a") and "s3" in _store_options:
            # a path this process made: the first store's, whatever AWS_ENDPOINT_URL says now
            return _upath("s3" + path[len(scheme):], _store_options["s3"])
        return lake_path(path)
    return None


def signature(path: Any) -> tuple:
    """What changes whenever the file at `path` is replaced: (inode, mtime, size) locally,
    (ETag, size) on an object store. FileNotFoundError when it is gone."""
    remote = _remote_or_none(path)
    if remote is None:
        st = os.stat(path)
        return st.st_ino, st.st_mtime_ns, st.st_size
    info = remote.fs.info(remote.path)
    return info.get("ETag") or info.get("LastModified"), info.get("size")


def parquet_file(path: Any) -> pq.ParquetFile:
    path = _remote_or_none(path) or path
    if is_remote(path):
        return pq.ParquetFile(path.path, filesystem=path.fs)
    return pq.ParquetFile(path)


def fetched(path: Any) -> Any:
    """What a Parquet reader opens to judge the file at `path`: a store object fetched whole
    first (a network failure then raises here, never looking like a damaged file), else the
    path itself. Raises FileNotFoundError when the object is gone."""
    if not is_remote(path):
        return path
    return pa.BufferReader(path.fs.cat_file(path.path))


def read_table(path: Any, columns: list[str] | None = None) -> pa.Table:
    path = _remote_or_none(path) or path
    if is_remote(path):
        return pq.read_table(path.path, columns=columns, filesystem=path.fs)
    return pq.read_table(path, columns=columns)


def read_schema(path: Any) -> pa.Schema:
    return parquet_file(path).schema_arrow


def sizes_and_versions(files: list[Any]) -> list[tuple[int, int | str]]:
    """(size, version) of each file, the version changing whenever the file is replaced: mtime
    in ns locally (`stat`), the ETag on a store (one LIST per folder, not a HEAD per object;
    LastModified has only whole seconds)."""
    if not files or not is_remote(files[0]):
        return [(st.st_size, st.st_mtime_ns) for st in (f.stat() for f in files)]
    listed: dict[str, dict[str, dict]] = {}
    found = []
    for f in files:
        parent = f.path.rsplit("/", 1)[0]
        if parent not in listed:
            listed[parent] = {i["name"]: i for i in f.fs.ls(parent, detail=True)}
        info = listed[parent].get(f.path)
        if info is None:
            raise FileNotFoundError(url(f))
        found.append((int(info["size"]), str(info.get("ETag") or info.get("LastModified"))))
    return found


def mtime(path: Any) -> float:
    """Last-modified time of a file, epoch seconds (an object's LastModified on a store)."""
    return path.stat().st_mtime


# -- locks -------------------------------------------------------------------------------------
# S3 refuses a request signed by a clock more than 15 minutes off (RequestTimeTooSkewed), so two
# hosts that reach the store differ by at most twice that: a lease whose holder's expiry lies
# further back than this in the taker's clock has expired whatever the two clocks say
MAX_SKEW_S = 1800.0


@contextmanager
def lease(path: Any, lease_s: float = LOCK_LEASE_S, wait_s: float = 300.0) -> Iterator[None]:
    """Hold an exclusive lease on an object-store `path` (the alert store's lock).

    Taken with a conditional PUT, so exactly one holder creates the object; released by
    deleting it, conditional on its version (`If-Match`), so a holder whose lease was taken
    over never deletes its successor's. A holder that died leaves a lease that expires: the
    taker saw it unchanged for `lease_s` by its own clock (a monotonic one: another host's clock
    may be minutes off), or its holder's expiry is more than `MAX_SKEW_S` behind the taker's
    clock. Work under the lease must finish well within `lease_s`.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait_s
    delay = 0.02
    seen: tuple[Any, float] | None = None  # (version, monotonic time first seen) of the lease
    while True:
        body = json.dumps({"owner": owner, "expires": time.time() + lease_s}).encode()
        mine = _put_new_version(path, body)
        if mine is not False:
            break
        try:
            version = path.fs.info(path.path).get("ETag")  # before the body: see below
            held = json.loads(path.fs.cat_file(path.path))
            stale = float(held.get("expires", 0)) < time.time() - MAX_SKEW_S
        except (FileNotFoundError, ValueError, TypeError):
            held, version, stale = {}, None, False  # released meanwhile, or being written
        if held and (seen is None or seen[0] != (version, held.get("owner"))):
            seen = ((version, held.get("owner")), time.monotonic())  # renewed or new: anew
        expired = stale or bool(held and seen is not None
                                   and time.monotonic() - seen[1] >= lease_s)
        if expired:
            # taken over only while it is still the expired lease read: deleting it let two
            # takers in (one deleted the lease the other had just made, then made its own),
            # and both wrote the alert log, raising an alert twice
            if version is None:  # a store that names no versions (fsspec's memory://)
                remove_tree(path)
            else:
                mine = _put_over_version(path, body, version)
                if mine is not False:
                    break
            seen = None
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"lock {url(path)} held by {held.get('owner')!r} for over "
                               f"{wait_s:.0f} s; if that process died, it expires by itself")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    try:
        yield
    finally:
        _release(path, owner, mine)


def _put_new_version(path: Any, data: bytes) -> Any:
    """`put_new`, answering the new object's ETag (None when the store names none), or False
    when something was there."""
    try:
        out = path.fs.pipe_file(path.path, data, mode="create")
    except FileExistsError:
        return False
    return (out or {}).get("ETag") if isinstance(out, dict) else None


def _put_over_version(path: Any, data: bytes, etag: str) -> Any:
    """`put_over`, answering the new object's ETag (None when unknown), or False when the
    object was not the version `etag` any more."""
    try:
        out = path.fs.pipe_file(path.path, data, IfMatch=etag)
    except FileNotFoundError:  # deleted meanwhile
        return False
    except OSError as exc:
        code = (getattr(exc.__cause__, "response", None) or {}).get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):  # another writer's
            return False
        if code not in ("NotImplemented", "501"):
            raise
        remove_tree(path)
        return _put_new_version(path, data)
    return (out or {}).get("ETag") if isinstance(out, dict) else None


def _release(path: Any, owner: str, etag: Any) -> None:
    """Delete the lease at `path` if it is still the one `owner` made (version `etag`): one
    conditional DELETE (`If-Match`); a store that cannot (501, or no version known) gets the
    lease read first and deleted if it names `owner` (a successor's lease made between the two
    would then go: work under a lease ends well within its life, so none is made there)."""
    if etag:
        bucket, key, _ = path.fs.split_path(path.path)
        try:
            path.fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            code = (getattr(exc.__cause__, "response", None) or {}).get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return  # taken over: the lease there is another holder's
            if code not in ("NotImplemented", "501"):
                raise
    try:
        if json.loads(path.fs.cat_file(path.path)).get("owner") == owner:
            path.fs.rm_file(path.path)
    except (FileNotFoundError, ValueError):
        pass


def local_state_dir(root: Any) -> Path:
    """A local folder for state that must not live in an object store (the embedded counter
    store's SQLite file, a producer's durable spool):
    `$VOICE_MONITOR_STATE_DIR/<scheme>@<store>/<bucket>%2F<prefix>` (default
    `~/.local/state/voice-monitor/...`), `<store>` naming the endpoint (`aws` without
    AWS_ENDPOINT_URL, else e.g. `http_127.0.0.1_9000`): the same bucket and prefix on two stores
    are two lakes, and shared one folder (their counters and own-file notes mixed; a durable
    producer's leftover events could land in the other store's lake). The bucket and prefix
    are one folder name (`state_folder_name`), so no lake's folder lies inside another's: named
    `<bucket>/<prefix>`, the state of s3://b/x/spool was the spool folder of s3://b/x. A folder
    of an older name (`<scheme>@<store>/<bucket>/<prefix>`, before that
    `<scheme>/<bucket>/<prefix>`) is taken over by the first use of the lake."""
    base = Path(os.environ.get(STATE_DIR_ENV) or Path.home() / ".local" / "state"
                / "voice-monitor")
    scheme = _store_scheme(scheme_of(str(root))) or "local"
    where = str(root).split("://", 1)[-1].strip("/")
    if scheme == "memory":  # fsspec's in-process store (tests): one store a process
        return base / scheme / state_folder_name(where)
    store = f"{scheme}@{_store_name(root)}"
    folder = base / store / state_folder_name(where)
    if folder not in _adopted:
        _adopt(base / store / where, folder)  # its name from 5def2be on
        _adopt(base / scheme / where, folder)  # its name before (when the above was not there)
        _adopted.add(folder)
    return folder


def state_folder_name(where: str) -> str:
    """One folder name for a lake's `bucket/prefix`: percent-encoded, `/` too (`lakes/team/prod`
    is `lakes%2Fteam%2Fprod`, the bucket alone `lakes%2F`), so two lakes never share a folder
    nor nest. A name too long for a file system (over 200 bytes) keeps its first 150 characters
    and a SHA-256 of the whole after a `+` (which the encoding never leaves)."""
    import hashlib
    from urllib.parse import quote

    bucket, _, prefix = where.partition("/")
    name = quote(f"{bucket}/{prefix}", safe="")
    if len(name) > 200:
        name = f"{name[:150]}+{hashlib.sha256(where.encode()).hexdigest()[:32]}"
    return name


_adopted: set[Path] = set()  # state folders this process has already looked for an older one
# what a lake keeps in its local state folder besides files: any other folder in one of an older
# name is the state of a lake under a longer prefix (s3://b/x/y's was inside s3://b/x's)
_STATE_FOLDERS = ("spool", "landed", "uncounted", "locks", "unreadable")


def _store_name(root: Any) -> str:
    """The endpoint of the lake at `root` as one folder name: `aws` for AWS S3 (no endpoint),
    else its scheme, host, port and path, e.g. `http_127.0.0.1_9000`."""
    from urllib.parse import urlsplit

    fs = getattr(root, "fs", None)
    endpoint = (getattr(fs, "endpoint_url", None) if fs is not None
                else os.environ.get("AWS_ENDPOINT_URL"))
    if not endpoint:
        return "aws"
    parts = urlsplit(endpoint.strip())
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    name = f"{scheme}_{(parts.hostname or '').lower()}_{port}{parts.path.rstrip('/')}"
    return re.sub(r"[^A-Za-z0-9.-]", "_", name)


def _adopt(old: Path, new: Path) -> None:
    """Move a lake's state from its folder of the older name `old` to `new`, when `new` does not
    exist yet: its files (the counter store) and its state folders (a durable producer's spool,
    whose events are then sent from `new`); another lake's folder nested in `old` stays. Moved
    into a staging folder renamed to `new` at once, so two processes doing it together never
    both make `new`; what a loser of that race moved is put into `new` where nothing is yet,
    or else left in its staging folder beside `new` (named in the log), never deleted."""
    try:
        if new.exists() or not old.is_dir():
            return
    except OSError:  # an older name too long for the file system (ENAMETOOLONG): none was made
        return
    try:
        entries = [e for e in old.iterdir() if e.is_file() or e.name in _STATE_FOLDERS]
    except OSError:
        return
    if not entries:
        return
    new.parent.mkdir(parents=True, exist_ok=True)
    staging = new.parent / f".{new.name}.adopting-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    for entry in entries:
        with suppress(FileNotFoundError):  # another process moved it first
            os.rename(entry, staging / entry.name)
    try:
        os.rename(staging, new)
        return
    except OSError:  # another process made `new` meanwhile
        pass
    for entry in list(staging.iterdir()):
        if not (new / entry.name).exists():
            with suppress(OSError):
                os.rename(entry, new / entry.name)
    with suppress(OSError):
        staging.rmdir()  # empty: everything went to `new`
    if staging.exists():
        import logging

        logging.getLogger(__name__).warning(
            "state of the lake moved from %s to %s in part; the rest is in %s", old, new, staging)
