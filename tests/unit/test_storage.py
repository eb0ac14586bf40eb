"""Storage layer: key validation, local store semantics, S3 error mapping without a server."""

from __future__ import annotations

import pickle
import time
from datetime import UTC
from pathlib import Path

import pytest

from ocr_tasks.core.config import S3Settings
from ocr_tasks.core.errors import InputError, StorageUnreachable, Unreadable
from ocr_tasks.io.storage import (
    InvalidKey,
    LocalStore,
    ObjectInfo,
    S3Store,
    check_key,
    open_store,
    parse_s3_uri,
)
from tests.s3server import closed_port

ODD_KEYS = [
    "plain.pdf",
    "dir with spaces/file name.pdf",
    "ünïcödé/日本語の文書.tiff",
    "quotes/it's \"quoted\".png",
    "deep/a/b/c/d.jpeg",
    "percent%20and+plus&amp.pdf",
    "back\\slash.pdf",
    "c:/colon: name.pdf",
]


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a/..", "./a", "a//b", "a\x00b"],
)
def test_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(InvalidKey) as info:
        store.put(key, b"x")
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)
    for op in (store.get, store.exists, store.delete, store.uri):
        with pytest.raises(ValueError):
            op(key)
    assert list(tmp_path.parent.glob("passwd")) == []


def test_dotted_names_are_fine() -> None:
    assert check_key("a/..b/c..d/.hidden") == "a/..b/c..d/.hidden"
    assert check_key("docs/", allow_empty=True) == "docs/"


@pytest.mark.parametrize("key", ODD_KEYS)
def test_local_round_trip_odd_keys(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "root")
    store.put(key, b"data:" + key.encode())
    assert store.exists(key)
    assert store.get(key) == b"data:" + key.encode()
    assert store.uri(key) == str(tmp_path / "root" / key)
    with store.local_path(key) as p:
        assert p.read_bytes() == b"data:" + key.encode()
    [info] = list(store.list())
    assert info.key == key and info.size == len(b"data:" + key.encode())
    assert info.mtime.tzinfo is not None and info.mtime.utcoffset() == UTC.utcoffset(None)
    store.delete(key)
    store.delete(key)  # idempotent
    assert not store.exists(key)


def test_local_list_is_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    keys = ["b.pdf", "a/z.pdf", "a-b.pdf", "a/b/c.pdf", "ab.pdf", "a.pdf", "c/d/e/f.png"]
    for k in keys:
        store.put(k, b"1")
    listed = [i.key for i in store.list()]
    assert listed == sorted(keys)  # S3 order: "a-b.pdf" < "a.pdf" < "a/b/c.pdf" < "ab.pdf"
    assert [i.key for i in store.list("a/")] == ["a/b/c.pdf", "a/z.pdf"]
    assert [i.key for i in store.list("a")] == [
        "a-b.pdf",
        "a.pdf",
        "a/b/c.pdf",
        "a/z.pdf",
        "ab.pdf",
    ]
    assert [i.key for i in store.list("c/d")] == ["c/d/e/f.png"]
    assert list(store.list("nothing/")) == []


def test_local_list_streams(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for i in range(5):
        store.put(f"d{i}/f.pdf", b"1")
    it = store.list()
    assert next(it).key == "d0/f.pdf"  # a generator, not a list built up front


def test_local_missing_root_lists_empty_and_is_created_on_write(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "new" / "lake"))
    assert isinstance(store, LocalStore)
    assert list(store.list()) == []
    store.put("x/y.json", b"{}")
    assert (tmp_path / "new" / "lake" / "x" / "y.json").read_bytes() == b"{}"


def test_local_put_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("k.bin", b"old")
    store.put("k.bin", b"new")
    assert store.get("k.bin") == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["k.bin"]


def test_local_missing_key_is_unreadable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(Unreadable):
        store.get("missing.pdf")
    with pytest.raises(Unreadable):
        with store.local_path("missing.pdf"):
            pass


def test_open_store_dispatch(tmp_path: Path) -> None:
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    s3 = open_store("s3://bucket/some/prefix/", S3Settings(endpoint_url="http://127.0.0.1:1"))
    assert isinstance(s3, S3Store)
    assert s3.root_uri == "s3://bucket/some/prefix"
    assert s3.uri("a b/ü.pdf") == "s3://bucket/some/prefix/a b/ü.pdf"
    assert parse_s3_uri("s3://b") == ("b", "")
    with pytest.raises(ValueError):
        parse_s3_uri("s3://b/../x")


def test_local_store_pickles(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a.txt", b"x")
    assert pickle.loads(pickle.dumps(store)).get("a.txt") == b"x"


def test_s3_store_pickles_without_client_or_secrets_in_repr() -> None:
    settings = S3Settings(
        endpoint_url="http://127.0.0.1:1", access_key_id="AKIDSECRET", secret_access_key="sshh"
    )
    store = S3Store("s3://bucket/p", settings)
    _ = store.client  # created lazily
    clone = pickle.loads(pickle.dumps(store))
    assert clone._client is None and clone.root_uri == store.root_uri
    assert clone.settings.secret_access_key is not None
    assert clone.settings.secret_access_key.get_secret_value() == "sshh"
    assert "sshh" not in repr(store) and "AKIDSECRET" not in repr(store)
    assert "sshh" not in repr(settings)


def test_s3_unreachable_endpoint_fails_fast_naming_the_endpoint() -> None:
    port = closed_port()
    settings = S3Settings(
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="k",
        secret_access_key="very-secret",
        max_attempts=1,
        connect_timeout_s=0.5,
        read_timeout_s=1.0,
    )
    store = S3Store("s3://bucket/prefix", settings)
    t0 = time.monotonic()
    def spool() -> None:
        with store.local_path("a.pdf"):
            pass

    ops = [
        lambda: store.get("a.pdf"),
        lambda: list(store.list()),
        lambda: store.put("a", b""),
        lambda: store.exists("a"),
        spool,
    ]
    for op in ops:
        with pytest.raises(StorageUnreachable) as info:
            op()
        assert f"127.0.0.1:{port}" in info.value.message
        assert "very-secret" not in info.value.message
        assert info.value.retryable and info.value.__cause__ is not None
    assert time.monotonic() - t0 < 10


def test_object_info_is_frozen() -> None:
    info = ObjectInfo("k", 1, __import__("datetime").datetime.now(UTC), None)
    with pytest.raises(AttributeError):
        info.key = "x"  # type: ignore[misc]
