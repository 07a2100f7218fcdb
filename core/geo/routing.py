"""Nearest-dealer search that scales: a k-d tree over points on the unit sphere.

Each WGS-84 point becomes a 3-D unit vector. The straight-line (chord) distance between two
such vectors grows strictly with the great-circle distance between the points, so the
nearest vector is the nearest dealer, exactly, with no special case at the poles or the
antimeridian. Building takes O(n log n); a query visits O(log n) nodes for dealers spread
as real dealers are, instead of measuring the distance to every dealer.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from regiocrm.geo.datums import great_circle_km
from regiocrm.interfaces.maps import Datum, Point

K = TypeVar("K", bound=Hashable)

Vector = tuple[float, float, float]


def _vector(point: Point) -> Vector:
    if point.datum is not Datum.WGS84:
        raise ValueError(f"nearest-dealer search works in WGS-84, not {point.datum}")
    lat, lon = math.radians(point.lat), math.radians(point.lon)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


@dataclass
class _Node(Generic[K]):
    key: K
    point: Point
    vector: Vector
    axis: int
    left: _Node[K] | None
    right: _Node[K] | None


@dataclass(frozen=True)
class Nearest(Generic[K]):
    key: K
    point: Point
    km: float


class NearestIndex(Generic[K]):
    """The points of many keys (dealer ids), searchable for the nearest to a point."""

    def __init__(self, entries: Sequence[tuple[K, Point]]) -> None:
        items = [(key, point, _vector(point)) for key, point in entries]
        self.size = len(items)
        self._root = self._build(items, 0)

    def _build(self, items: list[tuple[K, Point, Vector]], depth: int) -> _Node[K] | None:
        if not items:
            return None
        axis = depth % 3
        items.sort(key=lambda item: item[2][axis])
        middle = len(items) // 2
        key, point, vector = items[middle]
        return _Node(
            key,
            point,
            vector,
            axis,
            self._build(items[:middle], depth + 1),
            self._build(items[middle + 1 :], depth + 1),
        )

    def nearest(self, point: Point) -> Nearest[K] | None:
        """The nearest key to ``point`` (WGS-84) and its great-circle distance in km; None
        for an empty index."""
        if self._root is None:
            return None
        target = _vector(point)
        best_squared, found = math.inf, self._root
        # Each entry: a subtree, and the least squared distance any of its points can have.
        stack: list[tuple[_Node[K], float]] = [(self._root, 0.0)]
        while stack:
            node, bound = stack.pop()
            if bound >= best_squared:
                continue
            squared = sum((a - b) ** 2 for a, b in zip(node.vector, target, strict=True))
            if squared < best_squared:
                best_squared, found = squared, node
            offset = target[node.axis] - node.vector[node.axis]
            near, far = (node.left, node.right) if offset < 0 else (node.right, node.left)
            if far is not None:
                stack.append((far, max(bound, offset * offset)))
            if near is not None:
                stack.append((near, bound))
        return Nearest(found.key, found.point, great_circle_km(found.point, point))
