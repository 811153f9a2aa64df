"""One memory-quantity grammar: deploy settings (`memory_bytes`) and the Kubernetes manifests
(`check_memory`) accept and refuse the same words."""

import pytest

from mlops_cli.domain import memory_bytes
from mlops_cli.errors import UsageError
from mlops_cli.targets.kubernetes_manifests import check_memory

GOOD = {
    "512Mi": 512 * 2**20,
    "1Gi": 2**30,
    ".5Gi": 2**29,
    "1.5G": 1_500_000_000,
    "268435456": 2**28,
    "20000k": 20_000_000,
    "1Ti": 2**40,
    "1P": 10**15,
    "1Ei": 2**60,
}
BAD = ["", "Mi", "5x", "1.", "1 Gi", "-1Gi", "1gi", "1e9", "1.5.Gi"]


@pytest.mark.parametrize(("text", "size"), GOOD.items())
def test_both_read_the_same_quantities(text, size):
    assert memory_bytes(text) == size
    check_memory(text)


@pytest.mark.parametrize("text", BAD)
def test_both_refuse_the_same_words(text):
    with pytest.raises(UsageError, match="is not a quantity"):
        memory_bytes(text)
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        check_memory(text)


def test_a_server_needs_16mi():
    with pytest.raises(UsageError, match="below 16Mi"):
        memory_bytes("15Mi")
