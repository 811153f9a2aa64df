"""An interrupt that lands after a job's row is committed but before `create_job` returns.

CI once caught `pipeline run` there: Ctrl-C left its job `running` for ever (the run had not
yet learnt its job's id). Real signals hit that window by chance only, so here `create_job`
itself raises KeyboardInterrupt right after the real one committed, for each command that
records a job: the job must end `interrupted`, never `running`.
"""

from __future__ import annotations

import pytest

from mlops_cli.store import jobs as job_store
from tests.cli.test_score_batch import forest, make_table, write  # noqa: F401 - a fixture


@pytest.fixture
def interrupted_after_commit(monkeypatch):
    real = job_store.create_job

    def create_then_interrupt(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(job_store, "create_job", create_then_interrupt)


def statuses(store) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in store.conn.execute("SELECT kind, status FROM jobs")]


def test_pipeline_run(cli, project, store, interrupted_after_commit):
    (project / "pipeline.yaml").write_text("steps:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n")
    result = cli("pipeline", "run")
    assert result.exit_code == 130, result.stderr
    assert statuses(store) == [("pipeline", "interrupted")]
    assert not (project / "a.txt").exists()


def test_score_batch(cli, project, store, forest, interrupted_after_commit):  # noqa: F811
    data = write(make_table(50), project / "in.parquet")
    result = cli("score-batch", "forest", "-i", data, "-o", project / "out.parquet")
    assert result.exit_code == 130, result.stderr
    assert statuses(store) == [("score-batch", "interrupted")]
    assert not (project / "out.parquet").exists()
