"""Shared fixtures: a real S3-compatible endpoint on loopback for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3server import S3Server, start_s3


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Server]:
    """SeaweedFS (``weed mini``) on free loopback ports; ``make_bucket()`` gives a fresh bucket.

    Started once per session (about a second) and terminated at the end.
    """
    server = start_s3()
    try:
        yield server
    finally:
        server.stop()
