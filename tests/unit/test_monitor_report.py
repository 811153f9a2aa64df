"""The drift report's page (Jinja2, autoescape on): data from the user's files is escaped, the
inline plots are not, and the served-traffic table appears only for served data."""

from mlops_cli.monitor.report import _card, _render

HOSTILE = '<img src=x onerror="alert(1)">'


def _result(**extra):
    column = {
        "name": HOSTILE,
        "role": "feature",
        "kind": "categorical",
        "status": "checked",
        "metric": "chi2",
        "score": 12.5,
        "p_value": 0.001,
        "threshold": 0.05,
        "drift": True,
        "quality": {"missing_rate_current": 0.5, "unseen_count": 3, "unseen_share": 0.25},
    }
    return {
        "model": "m:1",
        "checked_at": "2026-12-06T07:00:00Z",
        "source": {"files": [{"path": f"/data/{HOSTILE}.parquet"}]},
        "rows": 12_345,
        "mode": "baseline",
        "dataset_drift": True,
        "features_drifted": 1,
        "features_checked": 1,
        "share_drifted": 1.0,
        "drift_share": 0.5,
        "prediction_drift": {"drift": True, "checked": True, "columns": [HOSTILE]},
        "missing_columns": [HOSTILE],
        "extra_columns": [],
        "empty_columns": [],
        "columns": [column],
        **extra,
    }


def test_values_are_escaped_and_plots_are_not():
    result = _result()
    page = _render(result, [_card(result["columns"][0], '<svg id="plot"><text>a</text></svg>')])
    assert HOSTILE not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert '<svg id="plot"><text>a</text></svg>' in page
    assert "12,345 rows" in page and "(share 1.00, limit 0.5)" in page
    assert "3 unseen (25.00%)" in page and "missing 50.0%" in page
    assert page.count("<tr") == 2 and "Served traffic" not in page


def test_served_traffic_has_its_table():
    served = {"requests": 1200, "error_rate": 0.0125, "latency_ms": {"p50": 1.5, "p99": None}}
    page = _render(_result(served=served), [])
    assert "Served traffic" in page
    assert (
        '<td class="num">1200</td><td class="num">0.0125</td><td class="num">1.5</td><td class="num">-</td>'
        in page
    )
