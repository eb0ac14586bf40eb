"""One object-store layer for local folders and S3-compatible buckets.

Discovery, rasterization and the lake all go through :class:`ObjectStore`, so a local archive
and a bucket share one code path. Keys are always relative to the store's root, '/'-separated,
and validated so that no key can reach outside the root. Stores are picklable (the S3 client is
created lazily and dropped on pickling) because they travel to Dask workers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ocr_tasks.core.config import S3Settings
from ocr_tasks.core.errors import InvalidKey, StorageError, StorageUnreachable, Unreadable

log = logging.getLogger(__name__)

_TMP_PREFIX = ".ocr-tmp-"  # in-flight local writes; never listed
_CHUNK = 1 << 20  # streaming chunk for S3 downloads


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object. ``mtime`` is UTC-aware; ``etag`` is None for local files."""

    key: str
    size: int
    mtime: datetime
    etag: str | None = None


def escape_undecodable(text: str) -> str:
    """A file name with bytes that are not UTF-8 (old Windows shares: ``Schr\\xf6der.png``
    arrives as a lone surrogate) as valid text: each such byte written ``\\xNN``, as Python
    shows it. Names that are valid UTF-8 come back unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


DANGLING_LINK = "dangling link"
UNREADABLE_FOLDER = "unreadable folder"
# Listing skips that may hide documents: a dangling link may be a disk not mounted tonight,
# an unreadable folder may be a permission changed for an hour.
HIDING_SKIPS = frozenset({DANGLING_LINK, UNREADABLE_FOLDER})


def listing_complete(skipped: Mapping[str, int]) -> bool:
    """Whether a listing with these skips (``LocalStore.skipped``) saw every document the
    source may hold, so that objects missing from it may be taken as deleted."""
    return not any(skipped.get(why) for why in HIDING_SKIPS)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links: a linked folder is listed like a folder
    except OSError:
        return False


def file_content_id(path: Path, chunk: int = 1 << 20) -> str:
    """A document's identity: the SHA-256 of its bytes (renames and re-uploads keep it),
    read in chunks (bounded memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_key(key: str, *, allow_empty: bool = False) -> str:
    """Validate a key: relative, '/'-separated, no '.', '..' or empty segments, no NUL."""
    if not isinstance(key, str):
        raise InvalidKey(f"key must be a string, got {type(key).__name__}")
    if key == "" and allow_empty:
        return key
    if not key or "\x00" in key:
        raise InvalidKey(f"invalid key {key!r}: empty or NUL")
    if key.startswith("/"):
        raise InvalidKey(f"invalid key {key!r}: absolute paths are not allowed")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            if part == "" and allow_empty and key.endswith("/"):
                continue  # a prefix such as "docs/" may end with a slash
            raise InvalidKey(f"invalid key {key!r}: '.', '..' and empty segments are not allowed")
    return key


class ObjectStore(ABC):
    """A flat namespace of keys under ``root_uri``."""

    root_uri: str

    @abstractmethod
    def uri(self, key: str) -> str:
        """Full URI of a key (file path or ``s3://bucket/prefix/key``)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """All objects whose key starts with ``prefix``, recursively, sorted by key, streamed."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Whole object in memory; use :meth:`local_path` for large documents."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one, never a partial one."""

    def put_file(self, key: str, path: Path) -> None:
        """Write a local file's bytes to ``key`` (atomically, like :meth:`put`); stores that
        can stream override this so a large file is never held in memory."""
        self.put(key, path.read_bytes())

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; deleting a missing key is not an error (idempotent retries)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    # conditional writes: what claims and leases stand on ------------------------------

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if no object has it; False when one already does."""

    @abstractmethod
    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object and a version token (ETag, or a content hash locally); None if absent."""

    @abstractmethod
    def put_if_version(self, key: str, data: bytes, version: str) -> bool:
        """Replace ``key`` only while it still has ``version``; False when it changed or
        vanished (someone else won the race)."""

    @abstractmethod
    def delete_if_version(self, key: str, version: str) -> bool:
        """Delete ``key`` only while it still has ``version``."""

    @abstractmethod
    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """A local file with the object's bytes for the duration of the block."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root_uri!r})"


# --------------------------------------------------------------------------------- local


class LocalStore(ObjectStore):
    """A folder. The folder is created on the first write, so a missing folder lists empty.

    Listing follows symbolic links, to files and to folders alike (archives are often put
    together from links to other disks). A folder reached again along its own path (a link
    loop, by device and inode) is skipped; so are a dangling link, a subfolder that cannot be
    read, and anything that is not a regular file. Each skip is logged as a warning and
    counted in :attr:`skipped` (reason -> count, filled as the listing goes). Skips that may
    hide documents (:data:`HIDING_SKIPS`: a dangling link may be a disk not mounted tonight)
    make the listing incomplete (:func:`listing_complete`), so no one concludes from it that
    documents were deleted. An unreadable root still fails the listing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.root_uri = str(self.root)
        self.skipped: dict[str, int] = {}  # what listings passed over, by reason

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_key(prefix, allow_empty=True)
        # Walk only the deepest folder the prefix names, then filter by string prefix.
        folder, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        base = f"{folder}/" if folder else ""
        for info in self._walk(start, base):
            if info.key.startswith(prefix):
                yield info

    def _walk(self, folder: Path, base: str, seen: frozenset[tuple[int, int]] = frozenset(),
              top: bool = True) -> Iterator[ObjectInfo]:
        """Depth-first in S3 key order: a folder ``a`` sorts as ``a/`` among its siblings.

        Symbolic links are followed, to files and to folders alike; a folder reached again
        along its own path (a link loop) and a dangling link are skipped, counted in
        ``skipped`` and logged, never silently."""
        try:
            here = os.stat(folder)
            seen = seen | {(here.st_dev, here.st_ino)}
            with os.scandir(folder) as it:
                # only names are kept (a folder may hold millions of files); "a/" marks folders
                names = sorted(
                    e.name + "/" if _is_dir(e) else e.name
                    for e in it
                    if not e.name.startswith(_TMP_PREFIX)
                )
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            if not top:  # one unreadable subfolder must not stop the listing of the rest
                self._skip(UNREADABLE_FOLDER, folder, f" ({e.strerror or e})")
                return
            raise StorageError(f"cannot list {folder}: {e.strerror or e}") from e
        for name in names:
            if name.endswith("/"):
                sub = folder / name[:-1]
                try:
                    st = os.stat(sub)
                except FileNotFoundError:
                    continue  # vanished since the listing
                except OSError as e:
                    self._skip(UNREADABLE_FOLDER, sub, f" ({e.strerror or e})")
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    self._skip("link loop", sub)
                    continue
                yield from self._walk(sub, f"{base}{name}", seen, top=False)
                continue
            try:
                st = os.stat(folder / name)  # follows symlinks to files
            except OSError:
                if os.path.islink(folder / name):
                    self._skip(DANGLING_LINK, folder / name)
                continue  # or vanished since the listing
            if not stat.S_ISREG(st.st_mode):
                self._skip("not a regular file", folder / name)
                continue
            mtime = datetime.fromtimestamp(st.st_mtime, tz=UTC)
            yield ObjectInfo(f"{base}{name}", st.st_size, mtime, None)

    def _skip(self, why: str, path: Path, detail: str = "") -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1
        log.warning("skipped %s: %s%s", why, escape_undecodable(str(path)), detail)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except OSError as e:
            raise Unreadable(f"cannot read {path}: {e.strerror or e}") from e

    @contextmanager
    def _aside(self, key: str, data: bytes | Path) -> Iterator[tuple[Path, Path]]:
        """Write ``data`` (bytes, or a file to copy) beside the key's path under a name no
        listing shows, synced to disk; yield (temp, target) for the caller to put in place.
        The temp file is gone afterwards whatever happened."""
        import shutil

        path = self._path(key)
        tmp = path.with_name(f"{_TMP_PREFIX}{uuid.uuid4().hex}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, Path):
                shutil.copyfile(data, tmp)
            else:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            yield tmp, path
        except FileExistsError:
            raise
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e.strerror or e}") from e
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, key: str, data: bytes) -> None:
        with self._aside(key, data) as (tmp, path):
            os.replace(tmp, path)

    def put_file(self, key: str, path: Path) -> None:
        with self._aside(key, path) as (tmp, target):
            os.replace(tmp, target)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            raise StorageError(f"cannot delete {path}: {e.strerror or e}") from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """An exclusive advisory lock on the key's folder (one never-listed lock file per
        folder): local compare-and-swap. Holds across processes of one host and on file
        systems with working POSIX locks."""
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f"{_TMP_PREFIX}lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Atomic without a lock: the data is written aside, then hard-linked into place,
        which fails if the name exists."""
        try:
            with self._aside(key, data) as (tmp, path):
                os.link(tmp, path)
            return True
        except FileExistsError:
            return False

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise Unreadable(f"cannot read {path}: {e.strerror or e}") from e
        return data, hashlib.sha256(data).hexdigest()

    def _if_version(self, key: str, version: str, action: Callable[[], None]) -> bool:
        """Run ``action`` only while ``key`` still has ``version`` (under the folder lock)."""
        with self._locked(self._path(key)):
            current = self.get_versioned(key)
            if current is None or current[1] != version:
                return False
            action()
            return True

    def put_if_version(self, key: str, data: bytes, version: str) -> bool:
        return self._if_version(key, version, lambda: self.put(key, data))

    def delete_if_version(self, key: str, version: str) -> bool:
        return self._if_version(key, version, lambda: self.delete(key))

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise Unreadable(f"no such file: {path}")
        yield path


# ------------------------------------------------------------------------------------ S3


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ("bucket", "some/prefix")."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InvalidKey(f"invalid S3 URI {uri!r}: no bucket")
    prefix = prefix.strip("/")
    if prefix:
        check_key(prefix)
    return bucket, prefix


class S3Store(ObjectStore):
    """A bucket (and optional prefix) on any S3-compatible endpoint, through boto3."""

    def __init__(
        self, uri: str, settings: S3Settings | None = None, *, page_size: int = 1000
    ) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.root_uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.settings = settings if settings is not None else S3Settings()
        self.page_size = page_size
        self._client: Any = None
        self._lock = threading.Lock()

    # pickling: ship settings, never the client (sockets, locks) -------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        s = self.settings
        config = Config(
            retries={"max_attempts": s.max_attempts, "mode": "standard"},
            connect_timeout=s.connect_timeout_s,
            read_timeout=s.read_timeout_s,
            # custom endpoints (MinIO, SeaweedFS) rarely resolve virtual-host bucket names
            s3={"addressing_style": "path"} if self._custom_endpoint() else {},
            region_name=s.region,
        )
        kwargs: dict[str, Any] = {"config": config}
        if s.endpoint_url:
            kwargs["endpoint_url"] = s.endpoint_url
        if s.access_key_id is not None and s.secret_access_key is not None:
            kwargs["aws_access_key_id"] = s.access_key_id.get_secret_value()
            kwargs["aws_secret_access_key"] = s.secret_access_key.get_secret_value()
        return boto3.session.Session().client("s3", **kwargs)

    def _custom_endpoint(self) -> bool:
        return bool(self.settings.endpoint_url)

    @property
    def endpoint(self) -> str:
        """The endpoint for messages (never credentials)."""
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return self.settings.endpoint_url or "AWS S3"

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(check_key(key))}"

    def _error(
        self, e: Exception, action: str, key: str = "", *, reading: bool = False
    ) -> Exception:
        """Map a botocore exception to the pipeline's storage errors (one place)."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        where = f"s3://{self.bucket}/{self._full(key)}" if key else self.root_uri
        if isinstance(e, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
            return StorageUnreachable(f"S3 endpoint {self.endpoint} unreachable ({action} {where})")
        if isinstance(e, NoCredentialsError):
            return StorageError(
                f"no S3 credentials for {self.endpoint}: set OCR_S3_ACCESS_KEY_ID/"
                "OCR_S3_SECRET_ACCESS_KEY or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            )
        if isinstance(e, ClientError):
            code = str(e.response.get("Error", {}).get("Code", ""))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            msg = f"{action} {where} on {self.endpoint} failed: {code or status}"
            if reading and (code in ("NoSuchKey", "404", "NotFound", "AccessDenied", "403")):
                return Unreadable(msg)
            return StorageError(msg)
        return StorageError(f"{action} {where} on {self.endpoint} failed: {type(e).__name__}: {e}")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_key(prefix, allow_empty=True)
        root = f"{self.prefix}/" if self.prefix else ""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=root + prefix,
                PaginationConfig={"PageSize": self.page_size},
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(root) :]
                    if not key or key.endswith("/"):
                        continue  # folder markers made by consoles are not objects
                    etag = str(obj.get("ETag", "")).strip('"') or None
                    mtime = obj["LastModified"].astimezone(UTC)
                    yield ObjectInfo(key, int(obj["Size"]), mtime, etag)
        except Exception as e:
            raise self._error(e, "list", prefix) from e

    def get(self, key: str) -> bytes:
        full = self._full(check_key(key))
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read())
        except Exception as e:
            raise self._error(e, "get", key, reading=True) from e

    def put(self, key: str, data: bytes) -> None:
        full = self._full(check_key(key))
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
        except Exception as e:
            raise self._error(e, "put", key) from e

    def put_file(self, key: str, path: Path) -> None:
        """Streamed (multipart above 8 MB) by boto3's transfer manager."""
        full = self._full(check_key(key))
        try:
            self.client.upload_file(str(path), self.bucket, full)
        except Exception as e:
            raise self._error(e, "put", key) from e

    def delete(self, key: str) -> None:
        full = self._full(check_key(key))
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full)
        except Exception as e:
            raise self._error(e, "delete", key) from e

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        full = self._full(check_key(key))
        try:
            self.client.head_object(Bucket=self.bucket, Key=full)
            return True
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(e, "head", key) from e
        except Exception as e:
            raise self._error(e, "head", key) from e

    def _precondition_failed(self, e: Exception) -> bool:
        from botocore.exceptions import ClientError

        if not isinstance(e, ClientError):
            return False
        code = str(e.response.get("Error", {}).get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") or (
            status in (409, 412))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """``If-None-Match: *`` (AWS S3 since 2024, MinIO, SeaweedFS)."""
        full = self._full(check_key(key))
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
            return True
        except Exception as e:
            if self._precondition_failed(e):
                return False
            raise self._error(e, "put", key) from e

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        full = self._full(check_key(key))
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=full)
            return bytes(got["Body"].read()), str(got["ETag"])
        except Exception as e:
            from botocore.exceptions import ClientError

            if isinstance(e, ClientError) and str(
                    e.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._error(e, "get", key, reading=True) from e

    def put_if_version(self, key: str, data: bytes, version: str) -> bool:
        """``If-Match: <etag>``."""
        full = self._full(check_key(key))
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data, IfMatch=version)
            return True
        except Exception as e:
            if self._precondition_failed(e):
                return False
            raise self._error(e, "put", key) from e

    def delete_if_version(self, key: str, version: str) -> bool:
        """``If-Match`` on delete where the store honours it; otherwise checked just before."""
        current = self.get_versioned(key)
        if current is None or current[1] != version:
            return False
        full = self._full(check_key(key))
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full, IfMatch=version)
            return True
        except Exception as e:
            if self._precondition_failed(e):
                return False
            raise self._error(e, "delete", key) from e

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Stream the object to a temp file in 1 MiB chunks (bounded memory), removed after."""
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._full(check_key(key))
        suffix = "".join(PurePosixPath(key).suffixes[-1:])[:16]
        fd, name = tempfile.mkstemp(prefix="ocr-src-", suffix=suffix)
        path = Path(name)
        try:
            try:
                with os.fdopen(fd, "wb") as f:
                    body = self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
                    for chunk in body.iter_chunks(_CHUNK):
                        f.write(chunk)
            except (BotoCoreError, ClientError) as e:  # before OSError: some subclass it
                raise self._error(e, "get", key, reading=True) from e
            except OSError as e:
                raise StorageError(f"cannot spool {self.uri(key)} to {path}: {e}") from e
            except Exception as e:
                raise self._error(e, "get", key) from e
            yield path
        finally:
            path.unlink(missing_ok=True)


def open_store(uri: str, s3: S3Settings | None = None) -> ObjectStore:
    """``s3://bucket/prefix`` -> :class:`S3Store`; ``file:///x`` or a path ->
    :class:`LocalStore`."""
    if uri.startswith("s3://"):
        return S3Store(uri, s3)
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    return LocalStore(uri)
