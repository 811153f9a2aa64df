"""Rendering a parity report for people: used by `mlops convert` and `mlops models show`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.cli.output import plural

if TYPE_CHECKING:
    from rich.console import Console


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def render_parity(report: dict[str, Any], console: Console, title: str = "parity") -> None:
    """A summary line, one row per output and the worst rows (if any differ)."""
    from rich.table import Table

    verdict = "passed" if report.get("passed") else "FAILED"
    console.print(
        f"\n{title}: {verdict} on {plural(report.get('rows') or 0, 'row')} from {report.get('source')}"
        f" (vs {report.get('compared_with', 'original')}; rtol {_num(report.get('rtol'))},"
        f" atol {_num(report.get('atol'))}); {_differ(report.get('mismatched_rows') or 0)}"
        f" ({report.get('mismatch_rate', 0):.2%}, allowed {report.get('max_mismatch_rate', 0):.2%})",
        markup=False,
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("  OUTPUT", "COMPARED", "MAX ABS DIFF", "MAX REL DIFF", "ROWS DIFFERING", "AGREEMENT"):
        table.add_column(column)
    for output in report.get("outputs", []):
        agreement = output.get("label_agreement")
        table.add_row(
            f"  {output['name']}",
            output.get("kind", ""),
            _num(output.get("max_abs_diff")),
            _num(output.get("max_rel_diff")),
            str(output.get("mismatched_rows")),
            "-" if agreement is None else f"{agreement:.2%}",
        )
    console.print(table)
    worst = report.get("worst_rows") or []
    if worst:
        rows = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("  ROW", "OUTPUT", "ORIGINAL", "ONNX", "ABS DIFF"):
            rows.add_column(column)
        for row in worst:
            rows.add_row(
                f"  {row['row']}",
                row["output"],
                ", ".join(_num(v) for v in row["original"]),
                ", ".join(_num(v) for v in row["onnx"]),
                _num(row.get("abs_diff")),
            )
        console.print("  worst rows", markup=False)
        console.print(rows)


def _differ(count: int) -> str:
    return f"{plural(count, 'row')} {'differs' if count == 1 else 'differ'}"


def quantization_line(q: dict) -> str:
    """One line for a quantization record: mode, size and speed before -> after."""
    from mlops_cli.cli.output import human_size

    reduction = q.get("size_reduction")
    sizes = f"{human_size(q.get('size_before', 0))} -> {human_size(q.get('size_after', 0))}"
    line = f"quantised ({q.get('mode')}): {sizes}"
    if isinstance(reduction, (int, float)):
        line += f" ({reduction:.0%} smaller)" if reduction >= 0 else " (no smaller)"
    before, after = q.get("rows_per_second_before"), q.get("rows_per_second_after")
    if before and after:
        line += f"; {before:,.0f} -> {after:,.0f} rows/s ({after / before:.2f}x, one session in process)"
    calibration = q.get("calibration")
    if isinstance(calibration, dict):
        line += f"; calibrated on {calibration.get('rows')} rows ({calibration.get('method')})"
    return line
