"""mlops_cli/storage/: one filesystem per environment, one mapping of backend errors."""

from __future__ import annotations

import pytest

from mlops_cli import storage
from mlops_cli.errors import ExternalToolError, NotFoundError, UsageError


def test_urls():
    assert storage.is_url("s3://b/k") and not storage.is_url("file:///tmp/x") and not storage.is_url("/x")
    assert storage.local_path("file:///tmp/a%20b") == "/tmp/a b"
    assert storage.bucket_of("gs://bucket/a/b") == "bucket"
    assert storage.join("s3://b/p/", "x") == "s3://b/p/x"
    with pytest.raises(UsageError, match="unknown storage scheme"):
        storage.filesystem("ftp2://x/y")


def test_one_filesystem_per_environment(monkeypatch):
    pytest.importorskip("s3fs")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    first, path = storage.filesystem("s3://bucket/key/")
    assert path == "bucket/key"
    assert storage.filesystem("s3://other/x")[0] is first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2")
    assert storage.filesystem("s3://bucket/key")[0] is not first


@pytest.mark.parametrize(
    ("raised", "error", "code", "text"),
    [
        (FileNotFoundError("NoSuchBucket"), NotFoundError, 1, "NoSuchBucket"),
        (PermissionError("Forbidden"), ExternalToolError, 4, "access denied"),
        (ConnectionRefusedError(111, "Connection refused"), ExternalToolError, 4, "unreachable"),
    ],
)
def test_backend_errors_become_one_mlops_error(raised, error, code, text):
    with pytest.raises(error) as caught, storage.errors("s3://bucket/key", "--output"):
        raise raised
    assert caught.value.exit_code == code
    assert text in caught.value.message and "s3://bucket/key" in caught.value.message


def test_missing_credentials_name_the_variables():
    class NoCredentialsError(Exception):
        """What botocore raises (its module is not needed to recognise the name)."""

    with pytest.raises(ExternalToolError) as caught, storage.errors("s3://bucket/key"):
        raise NoCredentialsError("Unable to locate credentials")
    assert "no usable credentials" in caught.value.message
    assert "AWS_ACCESS_KEY_ID" in caught.value.hint


def test_other_exceptions_pass_through():
    with pytest.raises(ZeroDivisionError), storage.errors("s3://bucket/key"):
        raise ZeroDivisionError
