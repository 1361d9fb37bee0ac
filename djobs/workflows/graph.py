"""Checking a workflow's graph: pure functions, no database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .errors import CycleError, EmptyWorkflowError, UnknownDependencyError


def check_graph(deps: Mapping[str, Sequence[str]], *, known: Iterable[str] = ()) -> list[str]:
    """Return the step names in an order where each comes after its dependencies.

    ``deps`` maps each new step to the names it depends on; ``known`` names
    steps that already exist (a running workflow being extended). Raise
    :class:`EmptyWorkflowError`, :class:`UnknownDependencyError` or
    :class:`CycleError` (naming the steps of the cycle).
    """
    if not deps:
        raise EmptyWorkflowError(
            "This workflow has no steps; add one with wf.add('name', my_job.new(...)) before enqueue()."
        )
    existing = set(known)
    for name, names in deps.items():
        for dep in names:
            if dep not in deps and dep not in existing:
                choices = ", ".join(repr(n) for n in sorted(set(deps) | existing))
                raise UnknownDependencyError(
                    f"Step {name!r} depends on {dep!r}, which is no step of this workflow "
                    f"(steps: {choices}). Add {dep!r} first or fix the name."
                )
    order: list[str] = []
    # 0: not visited, 1: on the current path, 2: done. Iterative, so long chains
    # cannot exhaust Python's stack.
    mark: dict[str, int] = dict.fromkeys(deps, 0)
    for root in deps:
        if mark[root]:
            continue
        path: list[str] = [root]
        children: list[Iterable[str]] = [iter([d for d in deps[root] if d in deps])]
        mark[root] = 1
        while path:
            step: str | None = None
            for dep in children[-1]:
                if mark[dep] == 1:
                    raise CycleError(path[path.index(dep) :])
                if mark[dep] == 0:
                    step = dep
                    break
            if step is None:
                done = path.pop()
                children.pop()
                mark[done] = 2
                order.append(done)
            else:
                mark[step] = 1
                path.append(step)
                children.append(iter([d for d in deps[step] if d in deps]))
    return order


def reaches(edges: Mapping[str, Sequence[str]], start: Iterable[str], targets: Iterable[str]) -> str | None:
    """Return a name of ``targets`` reachable from ``start`` along ``edges`` (name -> next names), or None."""
    wanted = set(targets)
    seen: set[str] = set()
    stack = list(start)
    while stack:
        name = stack.pop()
        if name in wanted:
            return name
        if name in seen:
            continue
        seen.add(name)
        stack.extend(edges.get(name, ()))
    return None


__all__ = ["check_graph", "reaches"]
