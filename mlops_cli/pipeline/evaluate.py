"""Loading a pipeline for a run or a status, and deciding step by step what must run.

Everything that can be refused before a step runs is refused here, at once: the file, the
graph, every selected step's params and options. A run that starts can only fail in a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.pipeline import actions
from mlops_cli.pipeline.graph import StepGraph, build_graph
from mlops_cli.pipeline.lock import LOCK_FILE, LockFile
from mlops_cli.pipeline.outputs import can_restore
from mlops_cli.pipeline.params import ParamsFiles
from mlops_cli.pipeline.plan import StepInputs, changes, out_changes, read_inputs
from mlops_cli.pipeline.spec import PipelineSpec, load_spec
from mlops_cli.pipeline.state import StateCache
from mlops_cli.store.cas import ObjectStore


@dataclass
class Decision:
    inputs: StepInputs
    reasons: list[str]  # empty: up to date
    restore: bool = False  # up to date but outs to put back from the store


class LoadedPipeline:
    """A validated pipeline with its lock file, state cache and each selected step's params."""

    def __init__(self, file: Path, targets: list[str], objects: ObjectStore, cache_dir: Path) -> None:
        self.spec: PipelineSpec = load_spec(file)
        self.graph: StepGraph = build_graph(self.spec)
        self.selected = self.graph.closure(targets)
        self.root = self.spec.root
        self.objects = objects
        self.cache = StateCache(cache_dir)
        self.lock = LockFile(self.root / LOCK_FILE, tuple(self.spec.steps))
        files = ParamsFiles(self.root)
        self.params: dict[str, dict[str, dict[str, Any]]] = {}
        for name in self.selected:
            step = self.spec.steps[name]
            self.params[name] = files.values(name, step.params)
            actions.check_options(step)

    def decide(self, name: str, force: bool, upstream_changed: list[str]) -> Decision:
        """Hash the step's inputs and compare them with its last successful run."""
        step = self.spec.steps[name]
        inputs = read_inputs(step, self.cache, self.params[name], self.root)
        locked = self.lock.entries.get(name)
        reasons = ["forced"] if force else changes(inputs, locked, step)
        reasons += [f"upstream step {u} will run" for u in upstream_changed]
        if reasons or locked is None:
            return Decision(inputs, reasons)
        modified = out_changes(step, locked, self.cache, self.root)
        if not modified:
            return Decision(inputs, [])
        if all(can_restore(self.objects, out) for out in locked.outs):
            return Decision(inputs, modified, restore=True)
        return Decision(inputs, modified)

    def up_to_date(self) -> bool:
        """True when no selected step would run or restore an out: a no-op run.

        Stops at the first step that is not up to date, and a step the lock has never
        recorded is not hashed at all, so a run with work to do pays almost nothing here.
        """
        for name in self.selected:
            if name not in self.lock.entries:
                return False
            decision = self.decide(name, False, [])
            if decision.reasons or decision.restore:
                return False
        return True
