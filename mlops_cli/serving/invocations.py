"""MLflow's scoring payloads (`dataframe_split`, `dataframe_records`, `instances`, `inputs`, and
`text/csv` bodies) turned into one table: optional column names and rows of values.

Like MLflow, exactly one of the four keys must be present (`params` is accepted and ignored);
a CSV body has a header line naming the columns, as `pandas.DataFrame.to_csv()` writes it.
"""

from __future__ import annotations

from typing import Any

from mlops_cli.serving.errors import HTTPError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse(payload: Any) -> tuple[list[str] | None, list[list]]:
    """(columns or None, rows) from an /invocations body; a 400 saying what is wrong otherwise."""
    if not isinstance(payload, dict):
        raise HTTPError(400, f"the body must be a JSON object with one of: {', '.join(FORMATS)}")
    present = [k for k in FORMATS if k in payload]
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        raise HTTPError(400, f"give exactly one of {', '.join(FORMATS)} (found: {found})")
    if payload.get("params") is not None and not isinstance(payload["params"], dict):
        raise HTTPError(400, "params must be an object")
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        return _split(value)
    if key == "dataframe_records":
        return _records(value, key)
    if isinstance(value, dict):
        return _columnar(value, key)
    if not isinstance(value, list) or not value:
        raise HTTPError(400, f"{key} must be a non-empty list of rows or an object of columns")
    if all(isinstance(r, dict) for r in value):
        return _records(value, key)
    if all(isinstance(r, list) for r in value):
        return None, value
    if not any(isinstance(r, (list, dict)) for r in value):
        return None, [[v] for v in value]  # one value per row
    raise HTTPError(400, f"{key}: rows must be all lists or all objects")


def _split(value: Any) -> tuple[list[str] | None, list[list]]:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise HTTPError(400, "dataframe_split must be an object with 'data' (and usually 'columns')")
    columns, data = value.get("columns"), value["data"]
    if value.get("index") is not None and not isinstance(value["index"], list):
        raise HTTPError(400, "dataframe_split.index must be a list")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise HTTPError(400, "dataframe_split.columns must be a list of strings")
    if not data:
        raise HTTPError(400, "dataframe_split.data has no rows")
    if not all(isinstance(r, list) for r in data):
        raise HTTPError(400, "dataframe_split.data must be a list of rows (lists)")
    if columns is not None and any(len(r) != len(columns) for r in data):
        raise HTTPError(400, f"every row of dataframe_split.data must have {len(columns)} values")
    return columns, data


def _records(value: Any, key: str) -> tuple[list[str], list[list]]:
    if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
        raise HTTPError(400, f"{key} must be a non-empty list of objects")
    columns = list(value[0])
    for i, record in enumerate(value):
        if set(record) != set(columns):
            raise HTTPError(400, f"{key}[{i}] has different keys from the first record")
    return columns, [[r[c] for c in columns] for r in value]


def _columnar(value: dict, key: str) -> tuple[list[str], list[list]]:
    columns = list(value)
    if not columns:
        raise HTTPError(400, f"{key} has no columns")
    lists = [v if isinstance(v, list) else [v] for v in value.values()]
    lengths = {len(v) for v in lists}
    if len(lengths) != 1:
        raise HTTPError(400, f"{key}: every column must have the same number of values")
    return columns, [list(row) for row in zip(*lists, strict=False)]


def parse_csv(body: bytes) -> tuple[list[str], list[list[str]]]:
    """(columns, rows of text) from a CSV body with a header line; a 400 saying what is wrong.

    The cells stay text here: the model's input types decide how each column is parsed.
    """
    import csv
    import io

    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"the CSV body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        table = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise HTTPError(400, f"the body is not valid CSV: {exc}") from None
    if not table:
        raise HTTPError(400, "the CSV body is empty; send a header line and rows")
    columns, rows = table[0], table[1:]
    if not rows:
        raise HTTPError(400, "the CSV body has a header but no rows")
    for number, row in enumerate(rows, start=1):
        if len(row) != len(columns):
            raise HTTPError(400, f"CSV row {number} has {len(row)} values, the header {len(columns)}")
    return columns, rows
