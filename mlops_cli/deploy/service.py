"""`mlops deploy`'s domain API in one place for the command: each part lives in its own module.

switching.py creates, switches and rolls back; reading.py lists, reports and tails logs;
removal.py deletes; recording.py keeps the records and the crash journal.
"""

from __future__ import annotations

from mlops_cli.deploy.reading import Status, history, list_deployments, logs, status
from mlops_cli.deploy.recording import spec_from_record, spec_to_record, workdir
from mlops_cli.deploy.removal import check_not_deployed, delete
from mlops_cli.deploy.requests import DeployRequest, DeployResult
from mlops_cli.deploy.switching import deploy, rollback

__all__ = [
    "DeployRequest",
    "DeployResult",
    "Status",
    "check_not_deployed",
    "delete",
    "deploy",
    "history",
    "list_deployments",
    "logs",
    "rollback",
    "spec_from_record",
    "spec_to_record",
    "status",
    "workdir",
]
