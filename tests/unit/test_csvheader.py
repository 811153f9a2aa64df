"""The header line tells a CSV's delimiter: the one that splits it into the most columns."""

from __future__ import annotations

import pytest

from mlops_cli.csvheader import read_header


@pytest.mark.parametrize(
    ("line", "names", "delimiter"),
    [
        ("a,b,c\r\n", ["a", "b", "c"], ","),
        ("a;b;c\n", ["a", "b", "c"], ";"),
        ("a\tb\n", ["a", "b"], "\t"),
        ("a|b|c|d", ["a", "b", "c", "d"], "|"),
        ('"x,y";z\n', ["x,y", "z"], ";"),  # a comma inside a quoted name is not the delimiter
        ("a;b,c\n", ["a;b", "c"], ","),  # a tie goes to the comma
        ("single\n", ["single"], ","),
        ("", [], ","),
    ],
)
def test_the_delimiter_that_splits_the_header_most(line, names, delimiter):
    assert read_header(line) == (names, delimiter)


def test_convert_reads_a_semicolon_sample_and_counts_its_lines(tmp_path):
    """`convert --sample` follows the same rule (and names a short line by its line number)."""
    from mlops_cli.convert.rows import read_rows
    from mlops_cli.errors import UsageError

    sample = tmp_path / "sample.csv"
    sample.write_bytes(b"\xef\xbb\xbfa;b;city\r\n1;2.5;x\r\n3;4;y\r\n")
    rows = read_rows(sample, "sample.csv")
    assert list(rows.columns) == ["a", "b", "city"]
    assert rows.columns["b"].tolist() == [2.5, 4.0] and rows.columns["city"].tolist() == ["x", "y"]
    sample.write_text("a;b\n1;2\n3\n")
    with pytest.raises(UsageError, match="line 3 has 1 fields, not 2"):
        read_rows(sample, "sample.csv")


def test_spark_reads_every_csv_input_with_one_delimiter_or_refuses(tmp_path):
    """The Spark engine hands all inputs to one reader: their delimiters must agree."""
    from mlops_cli.batch.engines.spark import one_delimiter
    from mlops_cli.batch.inputs import resolve_inputs
    from mlops_cli.errors import UsageError

    (tmp_path / "a.csv").write_text("x;y\n1;2\n")
    (tmp_path / "b.csv").write_text("x;y\n3;4\n")
    assert one_delimiter(resolve_inputs([str(tmp_path / "*.csv")])) == ";"
    (tmp_path / "c.csv").write_text("x,y\n5,6\n")
    with pytest.raises(UsageError, match=r"different delimiters \(a.csv ';', b.csv ';', c.csv ','\)"):
        one_delimiter(resolve_inputs([str(tmp_path / "*.csv")]))
