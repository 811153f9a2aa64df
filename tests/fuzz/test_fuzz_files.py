"""Property: a file an outsider can write (`.mlops/config.yaml`, a batch input, an audit export
given to `audit verify --file`, a version record read by `audit recover`) gives a success or the
documented error (one `error:` line and a documented exit code), never a traceback or an internal
error, and never changes the store. Files start valid and are then mutated."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from mlops_cli.audit.recover import well_formed
from mlops_cli.errors import MlopsError
from tests.fuzz.strategies import budget, mutated, mutated_bytes
from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx

DOCUMENTED_EXITS = {0, 1, 2, 3, 4, 5}


@pytest.fixture(scope="module")
def command():
    """The click command built once: conftest's `cli` rebuilds it from the Typer app per call."""
    import typer

    from mlops_cli.cli.app import app

    return typer.main.get_command(app)


@pytest.fixture
def cli(command):
    """`mlops ARGS...` in process, as conftest's `cli` but ~0.3 s faster per call."""
    from click.testing import CliRunner

    from tests.conftest import CliResult

    runner = CliRunner()

    def run(*args):
        result = runner.invoke(command, [str(a) for a in args], prog_name="mlops")
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def _documented_failure(result) -> None:
    """Exit 0, or a documented code with one `error:` line on stderr that is not an internal error."""
    assert result.exit_code in DOCUMENTED_EXITS, (result.exit_code, result.stderr)
    if result.exit_code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "internal error" not in lines[0] and "Traceback" not in result.stderr, result.stderr


def _store_state(project: Path) -> str:
    """A digest of what the store holds: the database's rows and every file but caches and temps."""
    state = hashlib.sha256()
    db = sqlite3.connect(f"file:{project / '.mlops' / 'mlops.db'}?mode=ro", uri=True)
    try:
        for line in db.iterdump():
            state.update(line.encode())
    finally:
        db.close()
    for path in sorted((project / ".mlops").rglob("*")):
        relative = path.relative_to(project / ".mlops")
        if (
            path.is_file()
            and relative.parts[0] not in ("cache", "tmp", "locks")
            and "mlops.db" not in path.name
        ):
            state.update(str(relative).encode() + hashlib.sha256(path.read_bytes()).digest())
    return state.hexdigest()


# --- .mlops/config.yaml hooks ---------------------------------------------------------------------

VALID_CONFIG = {
    "hooks": [
        {
            "name": "ci",
            "events": ["model.registered", "alias.*"],
            "url": "http://127.0.0.1:9/hook",
            "timeout": 2,
            "retries": 1,
            "backoff": 0.5,
            "secret_env": "HOOK_SECRET",
        },
        {"events": "*", "command": "true", "timeout": 5},
    ]
}
YAML_BYTES = b":-[]{}#&*!|>'\"\t\n %@`,?"


@budget(120)
@given(data=st.data())
@example(data=None)
def test_config_yaml_hooks_never_break_loading(project, data):
    """Whatever config.yaml holds, loading it gives hooks and problems (warnings), never a raise."""
    from mlops_cli.events.config import load, parse

    if data is None:  # the YAML constructs that have broken loaders before: tags, anchors, bytes
        texts = [
            b"hooks: !!python/object:os.system [x]\n",
            b"hooks: &a [*a]\n",
            b"\xff\xfe\x00",
            b"- 1\n- 2\n",
            b"hooks:\n- name:",  # found by this property: a bare key broke the loader
        ]
    else:
        text = yaml.safe_dump(data.draw(mutated(VALID_CONFIG, max_mutations=4)), sort_keys=False).encode()
        texts = [data.draw(mutated_bytes(text, YAML_BYTES))]
    root = project / ".mlops"
    for raw in texts:
        (root / "config.yaml").write_bytes(raw)
        shutil.rmtree(root / "cache", ignore_errors=True)  # the parse, not the cached result
        config = load(root)
        assert all(isinstance(p, str) for p in config.problems)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            continue
        assert parse(text).hooks == config.hooks


# --- the batch readers --------------------------------------------------------------------------


@pytest.fixture
def schema(project):
    from mlops_cli.models.signature import onnx_signature
    from mlops_cli.runtime.mapping import schema_from_signature

    signature = onnx_signature(logistic_onnx(project))
    signature["feature_names"] = FEATURES
    return schema_from_signature(signature)


def _table() -> pa.Table:
    return pa.table({"id": [1, 2, 3], **{f: [0.5 * i, -1.0, 2.0e3] for i, f in enumerate(FEATURES)}})


def _read_all(path: Path, schema) -> int:
    """What score-batch does with an input before the model: columns, chunks, typed feeds."""
    from mlops_cli.batch.inputs import check_same_columns, resolve_inputs
    from mlops_cli.batch.readers import iter_chunks
    from mlops_cli.runtime.mapping import check_columns, convert

    files = resolve_inputs((str(path),))
    check_columns(schema, check_same_columns(files))
    rows = 0
    for chunk in iter_chunks(files, list(schema.columns), schema.column_dtypes(), 2):
        convert(schema, chunk.batch)
        rows += chunk.rows
    return rows


def _valid_input(fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(_table(), sink)
    elif fmt == "parquet":
        pq.write_table(_table(), sink)
    else:
        return "".join(json.dumps(r) + "\n" for r in _table().to_pylist()).encode()
    return sink.getvalue()


@budget(200)
@given(fmt=st.sampled_from(["csv", "parquet", "jsonl"]), data=st.data())
def test_batch_inputs_read_or_fail_cleanly(project, schema, fmt, data):
    """CSV with arbitrary bytes, truncated or flipped Parquet, broken JSON Lines: rows or an InputError."""
    valid = _valid_input(fmt)
    if fmt == "parquet" and data.draw(st.booleans()):
        raw = valid[: data.draw(st.integers(0, len(valid) - 1))]  # truncated
    else:
        raw = data.draw(mutated_bytes(valid))
    path = project / f"input.{fmt}"
    path.write_bytes(raw)
    try:
        _read_all(path, schema)
    except MlopsError:
        pass  # the documented failure: score-batch prints it as one `error:` line (or skips the row)


# --- audit verify --file ------------------------------------------------------------------------


@pytest.fixture
def exports(project, cli, store):
    """The store's events (init, register, tag, alias) exported in every format."""
    register_onnx(store, logistic_onnx(project), "clf")
    assert cli("models", "tag", "clf:1", "team=fraud").exit_code == 0
    assert cli("models", "alias", "clf:1", "prod").exit_code == 0
    files = {}
    for fmt in ("jsonl", "csv", "parquet"):
        path = project / f"export.{fmt}"
        assert cli("audit", "export", "--format", fmt, "--output", path).exit_code == 0
        files[fmt] = path.read_bytes()
    return files


def _rows_mutated(data, raw: bytes, fmt: str) -> bytes:
    """A mutation at the level of the format's values (so the file still parses), or of its bytes."""
    if fmt == "jsonl" and data.draw(st.booleans()):
        rows = [json.loads(line) for line in raw.decode().splitlines()]
        index = data.draw(st.integers(0, len(rows) - 1))
        rows[index] = data.draw(mutated(rows[index], max_mutations=2))
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    if fmt == "csv" and data.draw(st.booleans()):
        rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
        row = rows[data.draw(st.integers(0, len(rows) - 1))]
        column = data.draw(st.integers(0, len(row) - 1))
        row[column] = data.draw(st.sampled_from(["", "x", "-1", "1e400", "{}", "[]", "null", '{"a":', *row]))
        sink = io.StringIO()
        csv.writer(sink).writerows(rows)
        return sink.getvalue().encode()
    if fmt == "parquet" and data.draw(st.booleans()):
        return raw[: data.draw(st.integers(0, len(raw) - 1))]
    return data.draw(mutated_bytes(raw))


@budget(150)
@given(fmt=st.sampled_from(["jsonl", "csv", "parquet"]), data=st.data())
def test_audit_verify_file_reports_or_fails_cleanly(project, cli, exports, fmt, data):
    before = _store_state(project)
    path = project / f"mutated.{fmt}"
    path.write_bytes(_rows_mutated(data, exports[fmt], fmt))
    result = cli("audit", "verify", "--file", path, "--json")
    _documented_failure(result)
    assert _store_state(project) == before


# --- audit recover: the version records ----------------------------------------------------------


@budget(80)
@given(data=st.data())
def test_audit_recover_with_damaged_records(project, cli, store, data, tmp_path_factory):
    """A record in `.mlops/records/` edited by anyone: recover rebuilds or refuses, the source untouched."""
    if not (project / ".mlops" / "records" / "clf").is_dir():
        register_onnx(store, logistic_onnx(project), "clf")
        register_onnx(store, logistic_onnx(project), "clf", features=None)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    record = project / ".mlops" / "records" / "clf" / "2.json"
    valid = json.loads(record.read_text())
    assert well_formed(valid)  # else every mutation would be skipped and the property hollow
    original = record.read_bytes()
    try:
        record.write_text(json.dumps(data.draw(mutated(valid, max_mutations=3))))
        before = _store_state(project)
        output = tmp_path_factory.mktemp("recovered")
        result = cli("audit", "recover", "--output", output, "--json")
        _documented_failure(result)
        assert _store_state(project) == before
    finally:
        record.write_bytes(original)


def test_recover_skips_records_of_the_wrong_shape():
    """Regressions found by the property above: a record whose `files` entries are not
    [path, size, mode, blob] was an internal error (FileEntry(*entry) of a string)."""
    good = {
        "name": "clf",
        "version": 2,
        "digest": "sha256:" + "0" * 64,
        "framework": "onnx",
        "created_at": "2026-01-01T00:00:00Z",
        "created_by": "a",
        "host": "h",
        "files": [["m.onnx", 3, 420, "sha256:" + "1" * 64]],
    }
    assert well_formed(good)
    for field, bad in [
        ("files", ["m.onnx", 3, 420, "sha256:" + "1" * 64]),
        ("files", [["m.onnx", "3", 420, "x"]]),
        ("version", "2"),
        ("name", None),
        ("tags", []),
        ("datasets", [{"path": "d.csv"}]),
    ]:
        assert not well_formed({**good, field: bad}), (field, bad)
