"""Counts per category of a categorical column, as a baseline stores them and a check compares them."""

from __future__ import annotations

from typing import Any

from mlops_cli.monitor.sketch import missing_share

MAX_CATEGORIES = 10_000  # beyond this, further categories are counted together as OTHER
OTHER = "__other__"


class Categories:
    """Counts per category (as text), and the missing values.

    A baseline keeps the first `limit` categories it meets and counts the rest together as
    OTHER. The current side of a check is folded the same way (`empty_like`): a category the
    reference knows is always counted as itself, the others go to OTHER when the reference
    folded (so they compare with the reference's OTHER), else they are unseen categories. With
    `limit=None` (exact, `--reference`) nothing is folded.
    """

    def __init__(
        self,
        counts: dict[str, int] | None = None,
        missing: int = 0,
        *,
        limit: int | None = MAX_CATEGORIES,
        known: frozenset[str] = frozenset(),
        fold_unknown: bool = False,
    ) -> None:
        self.counts: dict[str, int] = counts or {}
        self.missing = missing
        self.limit = limit
        self.known = known
        self.fold_unknown = fold_unknown

    def empty_like(self) -> Categories:
        """A fresh count for the current data, folded as this reference was."""
        return Categories(
            known=frozenset(self.counts) - {OTHER}, fold_unknown=OTHER in self.counts, limit=self.limit
        )

    def update(self, array: Any) -> None:
        """Count a pyarrow array's values (nulls, and NaN in a float column, count as missing)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if pa.types.is_floating(array.type):
            self.missing += int(pc.sum(pc.is_nan(array)).as_py() or 0)
            array = pc.drop_null(pc.if_else(pc.is_nan(array), None, array))
        self.missing += array.null_count
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        counted = pc.value_counts(pc.drop_null(array))
        counts, known, limit = self.counts, self.known, self.limit
        for value, count in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        ):
            key = category_key(value)
            if key in counts or key in known:
                pass
            elif self.fold_unknown or (limit is not None and len(counts) >= limit):
                key = OTHER
            counts[key] = counts.get(key, 0) + count

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def missing_rate(self) -> float:
        return missing_share(self.missing, self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "missing": self.missing,
            "count": self.n,
            "missing_rate": self.missing_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Categories:
        return cls(dict(data["counts"]), data["missing"])


def category_key(value: Any) -> str:
    """The text a category is known by: a float that is a whole number prints as an integer."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
