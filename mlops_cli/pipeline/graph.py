"""The step graph: a step depends on the steps whose outs its deps name (or lie in, or hold).

Built once per run and checked before anything runs: two steps writing one out, a cycle, or a
dep that no step makes and that does not exist stop the run with one line naming the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_cli.errors import NotFoundError, UsageError
from mlops_cli.pipeline.spec import PipelineSpec


def overlaps(a: str, b: str) -> bool:
    """True when two project paths are the same or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


@dataclass(frozen=True)
class StepGraph:
    order: tuple[str, ...]  # topological, ties in file order: the same every run
    upstream: dict[str, tuple[str, ...]]  # step -> the steps it needs

    def closure(self, targets: list[str]) -> tuple[str, ...]:
        """The targets and everything they need, in run order (all steps when none is named)."""
        if not targets:
            return self.order
        for target in targets:
            if target not in self.upstream:
                raise UsageError(
                    f"no step {target!r} in the pipeline", hint=f"steps: {', '.join(self.order)}"
                )
        needed: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                stack.extend(self.upstream[name])
        return tuple(n for n in self.order if n in needed)


def build_graph(spec: PipelineSpec) -> StepGraph:
    """The graph of `spec`; UsageError for shared outs or a cycle, NotFoundError for a dep
    that nothing makes and that does not exist."""
    producers: dict[str, str] = {}
    for step in spec.steps.values():
        for out in step.outs:
            for other_out, other in producers.items():
                if overlaps(out, other_out):
                    raise UsageError(
                        f"step {step.name!r}: out {out!r} is also produced by step {other!r}"
                        + ("" if out == other_out else f" (as {other_out!r})"),
                        hint="each path is written by one step",
                    )
            producers[out] = step.name
    upstream: dict[str, tuple[str, ...]] = {}
    for step in spec.steps.values():
        needs: list[str] = []
        for dep in step.deps:
            makers = [p for out, p in producers.items() if overlaps(dep, out)]
            if step.name in makers:
                raise UsageError(f"step {step.name!r}: dep {dep!r} is also one of its own outs")
            if not makers and not (spec.root / dep).exists():
                raise NotFoundError(
                    f"step {step.name!r}: dep {dep!r} does not exist and no step makes it",
                    hint="create it, fix the path, or add the step that writes it",
                )
            needs += [m for m in makers if m not in needs]
        upstream[step.name] = tuple(needs)
    return StepGraph(_topological(list(spec.steps), upstream), upstream)


def _topological(names: list[str], upstream: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    done: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name) :] + [name]
            raise UsageError(
                f"step {name!r} is in a cycle: {' -> '.join(cycle)}", hint="a step cannot need its own outs"
            )
        state[name] = 1
        for dep in upstream[name]:
            visit(dep, path + [name])
        state[name] = 2
        done.append(name)

    for name in names:
        visit(name, [])
    return tuple(done)
