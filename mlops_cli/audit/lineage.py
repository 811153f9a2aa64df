"""Lineage: where a version came from and what was built from it, as a small graph.

Upstream (the default): the datasets and git commit a version was registered from, the
source versions it was converted from (transitively), and what was built from the version
itself: images, profiles, baselines, deployments, batch jobs and drift checks. Downstream:
every version derived from it (transitively), each with what was built from it.
Rendered as a tree, as JSON (nodes and edges) or as Graphviz dot text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.domain import ModelRef, ModelVersion
from mlops_cli.errors import NotFoundError, UsageError
from mlops_cli.store import Store, registry
from mlops_cli.store import deployments as deployment_records
from mlops_cli.store import lineage as queries


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # version, dataset, commit, image, profile, baseline, deployment, job, drift
    label: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    source: str  # what came first: data flows source -> target
    target: str
    relation: str


@dataclass
class Lineage:
    root: str
    direction: str  # upstream or downstream
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> str:
        if all(n.id != node.id for n in self.nodes):
            self.nodes.append(node)
        return node.id

    def link(self, source: str, target: str, relation: str) -> None:
        edge = Edge(source, target, relation)
        if edge not in self.edges:
            self.edges.append(edge)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
        }

    def to_dot(self) -> str:
        """Graphviz text: `mlops audit lineage REF --dot | dot -Tsvg > lineage.svg`."""
        shapes = {"version": "box", "dataset": "cylinder", "commit": "note", "deployment": "component"}
        lines = [f"digraph {_quote('lineage ' + self.root)} {{", "  rankdir=LR;", "  node [fontsize=10];"]
        for n in self.nodes:
            style = ', style="bold"' if n.id == self.root else ""
            shape = shapes.get(n.kind, "ellipse")
            lines.append(f"  {_quote(n.id)} [label={_quote(f'{n.kind}: {n.label}')}, shape={shape}{style}];")
        for e in self.edges:
            lines.append(f"  {_quote(e.source)} -> {_quote(e.target)} [label={_quote(e.relation)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _version_node(version: ModelVersion) -> Node:
    return Node(
        f"version:{version.ref}",
        "version",
        version.ref,
        {"digest": version.digest, "framework": version.framework, "created_at": version.created_at},
    )


def lineage(store: Store, ref: str, *, downstream: bool = False) -> Lineage:
    """The lineage graph of a version; NotFoundError when the reference names none."""
    conn = store.conn
    version = registry.get_version(conn, ModelRef.parse(ref))
    graph = Lineage(root=f"version:{version.ref}", direction="downstream" if downstream else "upstream")
    graph.add(_version_node(version))
    if downstream:
        seen = {version.ref}
        queue = [version]
        while queue:
            current = queue.pop(0)
            _built_from(store, graph, current)
            for child_ref in queries.derived_versions(conn, current.ref, current.digest):
                if child_ref in seen:
                    continue
                seen.add(child_ref)
                child = registry.get_version(conn, ModelRef.parse(child_ref))
                graph.add(_version_node(child))
                graph.link(f"version:{current.ref}", f"version:{child.ref}", "converted")
                queue.append(child)
    else:
        _upstream(store, graph, version, set())
        _built_from(store, graph, version)
    return graph


def _upstream(store: Store, graph: Lineage, version: ModelVersion, seen: set[str]) -> None:
    seen.add(version.ref)
    node = f"version:{version.ref}"
    for dataset in version.datasets:
        graph.add(Node(f"dataset:{dataset.digest}", "dataset", dataset.path, asdict(dataset)))
        graph.link(f"dataset:{dataset.digest}", node, dataset.role)
    if version.git and version.git.commit:
        commit = version.git.commit
        label = commit[:12] + ("*" if version.git.dirty else "")
        graph.add(Node(f"commit:{commit}", "commit", label, asdict(version.git)))
        graph.link(f"commit:{commit}", node, "source")
    _pipeline_run(graph, version, node)
    source = (version.metadata.get("derived_from") or {}) if isinstance(version.metadata, dict) else {}
    source_ref = source.get("ref") if isinstance(source, dict) else source
    if source_ref and source_ref not in seen:
        try:
            parent = registry.get_version(store.conn, ModelRef.parse(source_ref))
        except (NotFoundError, UsageError):  # a removed source: show it as a dangling name
            graph.add(Node(f"version:{source_ref}", "version", source_ref, {"removed": True}))
            graph.link(f"version:{source_ref}", node, "converted")
            return
        graph.add(_version_node(parent))
        graph.link(f"version:{parent.ref}", node, "converted")
        _upstream(store, graph, parent, seen)


def _pipeline_run(graph: Lineage, version: ModelVersion, node: str) -> None:
    """A version registered by `mlops pipeline run`: the run, its step and the inputs it ran with."""
    run = version.metadata.get("pipeline") if isinstance(version.metadata, dict) else None
    if not isinstance(run, dict) or not run.get("job"):
        return
    run_id = f"job:{run['job']}"
    details = {k: run.get(k) for k in ("step", "pipeline", "lock", "params", "environment")}
    graph.add(Node(run_id, "pipeline", f"{run['job']} step {run.get('step')}", details))
    graph.link(run_id, node, "produced")
    inputs = [("input", dep) for dep in run.get("inputs", [])]
    for step, deps in (run.get("upstream") or {}).items():  # what the steps before it read
        inputs += [(f"input of {step}", dep) for dep in deps]
    for relation, dep in inputs:
        digest = f"sha256:{dep.get('sha256')}"
        graph.add(Node(f"dataset:{digest}", "dataset", dep.get("path", "?"), {"digest": digest, **dep}))
        graph.link(f"dataset:{digest}", run_id, relation)


def _built_from(store: Store, graph: Lineage, version: ModelVersion) -> None:
    """What was built from or run with this version."""
    conn, node = store.conn, f"version:{version.ref}"
    for artifact in version.artifacts:
        artifact_id = f"{artifact.kind}:{artifact.ref}:{artifact.digest or ''}"
        graph.add(
            Node(artifact_id, artifact.kind, artifact.ref, {"digest": artifact.digest, **artifact.details})
        )
        graph.link(node, artifact_id, "built" if artifact.kind == "image" else artifact.kind)
    deployments: dict[str, dict[str, Any]] = {}
    for record in deployment_records.deployments_of(conn, version.name, version.version):
        deployments[record["name"]] = {k: v for k, v in record.items() if k != "name"}
    for event in queries.events_about(conn, ("deploy.*",), version.ref, version.digest):
        name = event.subject.removeprefix("deployment:")  # deploy events name `deployment:NAME`
        deployments.setdefault(name, {}).update({"last_event": event.action, "event": event.seq})
    for name, details in deployments.items():
        graph.add(Node(f"deployment:{name}", "deployment", name, details))
        graph.link(node, f"deployment:{name}", "deployed")
    for job in queries.jobs_of(conn, version.ref, version.digest):
        graph.add(
            Node(
                f"job:{job.id}",
                "job",
                f"{job.kind} {job.id}",
                {"kind": job.kind, "status": job.status, "created_at": job.created_at},
            )
        )
        graph.link(node, f"job:{job.id}", job.kind)
    for event in queries.events_about(conn, ("drift.*", "monitor.*"), version.ref, version.digest):
        label = f"{event.action} at {event.ts[:19]}Z"
        graph.add(Node(f"event:{event.seq}", "drift", label, {"event": event.seq, **event.details}))
        graph.link(node, f"event:{event.seq}", event.action)
