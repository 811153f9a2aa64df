"""A CSV file's header line: its column names and the delimiter the file uses.

A comma, unless another delimiter splits the header into more columns: spreadsheets in many
locales save CSV with ";", and tab- or pipe-separated exports are common. DuckDB sniffs the
same way; pandas and MLflow's `models predict` read only commas and make such a file one wide
column. One rule for every reader of tables (score-batch, profile, monitor, convert's samples).
"""

from __future__ import annotations

import csv
import io

DELIMITERS = (",", ";", "\t", "|")  # a tie goes to the first: a comma


def read_header(line: str) -> tuple[list[str], str]:
    """(column names, delimiter) of a header line whose byte order mark is already removed."""
    best: tuple[list[str], str] = ([], ",")
    for delimiter in DELIMITERS:
        names = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
        if len(names) > len(best[0]):
            best = (names, delimiter)
    return best
