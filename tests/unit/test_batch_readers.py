"""The CSV reader against a file truncated while it is read: a clean error, never SIGBUS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from mlops_cli.batch.readers import CSV_SEGMENT


def _csv(path: Path, size: int) -> Path:
    """A CSV of 20 float columns of at least `size` bytes."""
    rows = size // 380 + 1
    rng = np.random.default_rng(0)
    pacsv.write_csv(pa.table({f"f{i}": rng.normal(size=rows) for i in range(20)}), path)
    return path


def test_a_segment_outlives_the_truncation_of_its_file(tmp_path):
    """A memory-mapped segment dies with SIGBUS when its file shrinks under it; ours does not.

    Run in a child process, since a SIGBUS would take the test runner with it.
    """
    path = _csv(tmp_path / "in.csv", 3 << 20)
    script = textwrap.dedent(
        f"""
        import os
        from mlops_cli.batch.readers import _segments
        fd = os.open({str(path)!r}, os.O_RDONLY)
        view = next(_segments(fd, 0, "in.csv"))
        os.truncate({str(path)!r}, 100)
        print(len(view), bytes(view[-20:]).count(b"\\n"))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert int(done.stdout.split()[0]) > (1 << 20)


def test_a_file_truncated_between_segments_is_an_input_error(tmp_path):
    from mlops_cli.batch.inputs import resolve_inputs
    from mlops_cli.batch.readers import iter_chunks
    from mlops_cli.runtime.mapping import InputError

    path = _csv(tmp_path / "in.csv", CSV_SEGMENT + (4 << 20))
    (file,) = resolve_inputs((str(path),))
    columns = [f"f{i}" for i in range(20)]
    chunks = iter_chunks([file], columns, dict.fromkeys(columns, "float"), 10_000)
    assert next(chunks).rows == 10_000
    os.truncate(path, 1 << 20)
    with pytest.raises(InputError, match="in.csv changed while it was being read"):
        for _ in chunks:
            pass


def test_bytes_that_are_not_utf8_in_a_number_column_are_an_input_error(tmp_path):
    """Found by the fuzz tests after the readers were reshaped: the retry that parses a bad segment
    as text (to name the bad row) raised pyarrow's own error on bytes that are not UTF-8."""
    from mlops_cli.batch.inputs import resolve_inputs
    from mlops_cli.batch.readers import iter_chunks
    from mlops_cli.runtime.mapping import InputError

    path = tmp_path / "in.csv"
    path.write_bytes(b"f0,f1\n1.0,\xff0\n2.0,3.0\n")
    (file,) = resolve_inputs((str(path),))
    with pytest.raises(InputError, match="cannot read in.csv"):
        list(iter_chunks([file], ["f0", "f1"], {"f0": "float", "f1": "float"}, 100))
