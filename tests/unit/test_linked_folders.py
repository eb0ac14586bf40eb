"""Local listings through symbolic links: followed for files and folders, loops end, and what
is skipped is counted; skips that may hide documents make the listing incomplete."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ocr_tasks.core.errors import StorageError
from ocr_tasks.io import storage
from ocr_tasks.io.storage import LocalStore, listing_complete


def archive(tmp_path: Path) -> Path:
    """``src/`` with a real folder, a folder linked from another disk (with a loop back to its
    own top inside), a loop to the root, a link to a file, and dangling links."""
    nas = tmp_path / "nas"
    (nas / "2019").mkdir(parents=True)
    (nas / "2019" / "a.pdf").write_bytes(b"a")
    (nas / "2019" / "back").symlink_to(nas)
    src = tmp_path / "src"
    (src / "real").mkdir(parents=True)
    (src / "real" / "b.pdf").write_bytes(b"b")
    (src / "archive").symlink_to(nas)
    (src / "self").symlink_to(src)
    (src / "file-link.pdf").symlink_to(src / "real" / "b.pdf")
    (src / "gone.pdf").symlink_to(tmp_path / "missing.pdf")
    (src / "gone-dir").symlink_to(tmp_path / "missing-dir", target_is_directory=True)
    return src


def test_links_are_followed_loops_end_and_skips_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(archive(tmp_path))
    with caplog.at_level(logging.WARNING, logger="ocr_tasks.io.storage"):
        keys = [i.key for i in store.list()]
    assert keys == ["archive/2019/a.pdf", "file-link.pdf", "real/b.pdf"]
    assert store.skipped == {"link loop": 2, "dangling link": 2}
    assert "skipped link loop: " in caplog.text and caplog.text.count("skipped dangling link") == 2
    assert store.get("archive/2019/a.pdf") == b"a"  # read through the link
    assert not listing_complete(store.skipped)  # "archive" could have been an unmounted disk


def test_a_listing_with_loops_only_is_complete() -> None:
    assert listing_complete({})
    assert listing_complete({"link loop": 3, "not a regular file": 1})
    assert not listing_complete({"unreadable folder": 1})


def test_an_unreadable_subfolder_is_skipped_but_an_unreadable_root_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.pdf").write_bytes(b"a")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.pdf").write_bytes(b"b")
    real = os.scandir

    def scandir(path: Path) -> object:  # tests run as root: chmod 000 would not stop a read
        if Path(path).name in {"locked", "root-locked"}:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(storage.os, "scandir", scandir)
    store = LocalStore(tmp_path)
    assert [i.key for i in store.list()] == ["open/a.pdf"]
    assert store.skipped == {"unreadable folder": 1} and not listing_complete(store.skipped)
    (tmp_path / "root-locked").mkdir()
    with pytest.raises(StorageError, match="cannot list .*root-locked: Permission denied"):
        list(LocalStore(tmp_path / "root-locked").list())
