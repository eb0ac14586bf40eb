"""S3Store and the lake against a real S3-compatible server (SeaweedFS on loopback)."""

from __future__ import annotations

import pickle
import uuid

import pytest

from ocr_tasks.core.errors import StorageError, Unreadable
from ocr_tasks.io.storage import S3Store, open_store
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.tables import Lake
from tests.s3server import S3Server

ODD_KEYS = [
    "plain.pdf",
    "dir with spaces/file name.pdf",
    "ünïcödé/日本語の文書.tiff",
    "quotes/it's \"quoted\".png",
    "percent%20and+plus&amp?.pdf",
]


@pytest.fixture(scope="module")
def bucket(s3_endpoint: S3Server) -> str:
    """One bucket per module: SeaweedFS allocates volumes per bucket, which takes a while."""
    return s3_endpoint.make_bucket()


@pytest.fixture
def prefix(bucket: str) -> str:
    return f"s3://{bucket}/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(s3_endpoint: S3Server, prefix: str) -> S3Store:
    s = open_store(f"{prefix}/archive/2024", s3_endpoint.settings())
    assert isinstance(s, S3Store)
    return s


def test_round_trip_with_odd_keys(store: S3Store) -> None:
    for key in ODD_KEYS:
        store.put(key, f"data:{key}".encode())
    for key in ODD_KEYS:
        assert store.exists(key)
        assert store.get(key) == f"data:{key}".encode()
        with store.local_path(key) as p:
            assert p.read_bytes() == f"data:{key}".encode()
        assert not p.exists()  # temp file removed
    infos = list(store.list())
    assert [i.key for i in infos] == sorted(ODD_KEYS)
    for info in infos:
        assert info.mtime.tzinfo is not None and info.etag and '"' not in info.etag
        assert info.size == len(f"data:{info.key}".encode())
    store.delete(ODD_KEYS[0])
    store.delete(ODD_KEYS[0])
    assert not store.exists(ODD_KEYS[0])


def test_list_paginates_and_filters_by_prefix(s3_endpoint: S3Server, prefix: str) -> None:
    store = S3Store(f"{prefix}/p", s3_endpoint.settings(), page_size=3)
    keys = [f"d{i % 2}/f{i:02d}.pdf" for i in range(11)]
    for key in keys:
        store.put(key, b"x")
    S3Store(f"{prefix}/p2", s3_endpoint.settings()).put("outside.pdf", b"x")  # sibling prefix
    assert [i.key for i in store.list()] == sorted(keys)
    assert [i.key for i in store.list("d1/")] == sorted(k for k in keys if k.startswith("d1/"))
    assert list(store.list("none/")) == []


def test_missing_key_is_unreadable(store: S3Store) -> None:
    with pytest.raises(Unreadable) as info:
        store.get("missing.pdf")
    assert "missing.pdf" in info.value.message and info.value.__cause__ is not None
    with pytest.raises(Unreadable):
        with store.local_path("missing.pdf"):
            pass
    assert not store.exists("missing.pdf")


def test_wrong_credentials_are_a_storage_error(s3_endpoint: S3Server, store: S3Store) -> None:
    store.put("a.pdf", b"x")
    bad = S3Store(store.root_uri, s3_endpoint.settings(secret_access_key="wrong-secret"))
    with pytest.raises(StorageError) as info:
        bad.get("a.pdf")
    assert "wrong-secret" not in info.value.message


def test_store_survives_pickling(store: S3Store) -> None:
    store.put("k.txt", b"v")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get("k.txt") == b"v"


def test_lake_on_s3(s3_endpoint: S3Server, prefix: str) -> None:
    lake = Lake.open(f"{prefix}/lake", s3_endpoint.settings())
    ctx = BatchContext("run-1", "batch-0001", "2026-01-02", "v1")
    row = {
        "batch_id": "batch-0001", "run_id": "run-1", "documents": 1, "pages": 2, "errors": 0,
        "canary_pages": 0, "seconds": 1.5, "pages_per_s": 1.33, "cer": None, "cer_low": None,
        "cer_high": None, "worker": "w1", "model_version": "v1",
    }  # fmt: skip
    record = lake.write_batch(ctx, {"batches": [row], "errors": []})
    assert record.files == ["batches/ingest_date=2026-01-02/batch-0001.parquet"]
    assert lake.is_committed("batch-0001")
    table = lake.read_table("batches")
    assert table.num_rows == 1 and table.column("ingest_date").to_pylist() == ["2026-01-02"]
    lake.store.put("batches/ingest_date=2026-01-02/rrun9-orphan.parquet", b"junk")
    assert lake.sweep_run("run-1", "2026-01-02") == []  # not that run's file
    assert lake.sweep_run("run-9", "2026-01-02") == [
        "batches/ingest_date=2026-01-02/rrun9-orphan.parquet"]
