import pytest

from mlops_cli.domain import FileEntry, Manifest, ModelRef, parse_tag, validate_alias, validate_name
from mlops_cli.errors import UsageError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("churn", ModelRef("churn")),
        ("churn:latest", ModelRef("churn")),
        ("churn:3", ModelRef("churn", version=3)),
        ("churn@champion", ModelRef("churn", alias="champion")),
        ("a.b_c-d", ModelRef("a.b_c-d")),
    ],
)
def test_model_refs_parse(text, expected):
    assert ModelRef.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "Churn", "a/b", "a..b", "-x", "x:0", "x:-1", "x:abc", "x@", "x@latest", "x@1"]
)
def test_bad_refs_are_usage_errors(text):
    with pytest.raises(UsageError):
        ModelRef.parse(text)


def test_name_length_limit():
    assert validate_name("a" * 128)
    with pytest.raises(UsageError):
        validate_name("a" * 129)


def test_alias_rules():
    assert validate_alias("champion") == "champion"
    for bad in ("latest", "Champion", "1st", ""):
        with pytest.raises(UsageError):
            validate_alias(bad)


def test_tags_need_an_equals_sign():
    assert parse_tag("k=v=w") == ("k", "v=w")
    assert parse_tag("k=") == ("k", "")
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_tag("novalue")
    with pytest.raises(UsageError):
        parse_tag("=v")


def test_manifest_digest_ignores_listing_order():
    a = FileEntry("a.bin", 1, 0o644, "sha256:" + "1" * 64)
    b = FileEntry("b/c.bin", 2, 0o755, "sha256:" + "2" * 64)
    assert Manifest((a, b)).digest == Manifest((b, a)).digest
    changed = FileEntry("a.bin", 1, 0o755, a.digest)
    assert Manifest((changed, b)).digest != Manifest((a, b)).digest
