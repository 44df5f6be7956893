"""Route search on a token network's channel graph (pure: no Django, no web3).

Raiden's pathfinding service ranks routes by hop count and fees; here the graph is the set of
directed edges "node can send ``capacity`` to partner", and ``find_routes`` returns up to
``max_routes`` simple paths in order of hop count whose every edge can carry ``amount``. Fees
only add to what the first hops carry, so callers re-check each candidate with its exact
per-hop amounts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_MAX_HOPS = 6


@dataclass(frozen=True)
class Edge:
    """A directed channel end: its owner can send up to ``capacity`` to ``partner``."""

    partner: str
    capacity: int
    settle_timeout: int = 0
    reveal_timeout: int = 0


def find_routes(
    graph: Mapping[str, Iterable[Edge]],
    source: str,
    target: str,
    amount: int,
    max_routes: int = 3,
    max_hops: int = DEFAULT_MAX_HOPS,
    exclude: Iterable[str] = (),
) -> list[list[str]]:
    """Up to ``max_routes`` simple paths from ``source`` to ``target``, fewest hops first.

    Every edge of a returned path has ``capacity >= amount``; nodes in ``exclude`` are never
    used as mediators. Each node is expanded at most ``max_routes`` times (the k-shortest-paths
    bound of a breadth-first search), so the search stays linear in the graph's size.
    """
    if source == target or max_routes <= 0:
        return []
    excluded = set(exclude)
    expansions: dict[str, int] = {}
    routes: list[list[str]] = []
    queue: deque[list[str]] = deque([[source]])
    while queue and len(routes) < max_routes:
        path = queue.popleft()
        node = path[-1]
        if expansions.get(node, 0) >= max_routes:
            continue
        expansions[node] = expansions.get(node, 0) + 1
        if len(path) > max_hops:
            continue
        for edge in graph.get(node, ()):
            if edge.capacity < amount or edge.partner in path:
                continue
            if edge.partner == target:
                routes.append([*path, target])
                if len(routes) >= max_routes:
                    break
            elif edge.partner not in excluded:
                queue.append([*path, edge.partner])
    return routes
