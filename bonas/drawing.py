"""Pictures of architectures: an architecture's cell DAG(s) drawn side by side to a PNG file.

:func:`draw_architecture` is what the dashboard's best-architecture note shows (see
:func:`bonas.dashboard.annotate_best`). Matplotlib is imported only when a picture is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from bonas.architecture import Architecture, Cell
from bonas.errors import BonasError


def draw_architecture(architecture: Architecture, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the architecture's cell DAG(s) side by side to a PNG file.

    Nodes are laid out left to right by depth (inputs first); an edge that skips columns arcs above or
    below the others; edge operations are written on the edges (zero operations dashed and grey), node
    labels in the nodes.

    Args:
        architecture: an architecture with at least one cell.
        path: the PNG file to write.
        title: figure title (default: the architecture string, shortened).

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        BonasError: the architecture has no cell graph (a user space without one).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not architecture.cells:
        raise BonasError(f"Architecture {architecture} of space {architecture.space!r} has no cell graph.")
    path = Path(path)
    layouts = [(name, cell, _cell_layout(cell)) for name, cell in architecture.cells]
    widths = [layout.width for _, _, layout in layouts]
    height = max(layout.height for _, _, layout in layouts)
    figure = Figure(figsize=(sum(1.7 * w + 1.2 for w in widths), 1.3 * height + 1.6), dpi=110)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, len(layouts), width_ratios=widths)
    for index, (name, cell, layout) in enumerate(layouts):
        axes = figure.add_subplot(grid[0, index])
        _draw_cell(axes, cell, layout)
        if len(layouts) > 1:
            axes.set_title(name, fontsize=10)
    text = title if title is not None else str(architecture)
    figure.suptitle(text if len(text) <= 110 else text[:107] + "...", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


@dataclass(frozen=True)
class _Layout:
    """Where a cell's nodes, edge arcs and edge labels go (data coordinates)."""

    nodes: dict[int, tuple[float, float]]
    arcs: list[float]  # matplotlib arc3 ``rad`` per edge, in the cell's edge order
    labels: list[tuple[float, float]]  # label position per edge

    @property
    def _points(self) -> list[tuple[float, float]]:
        return [*self.nodes.values(), *self.labels]

    @property
    def width(self) -> float:
        xs = [x for x, _ in self._points]
        return max(xs) - min(xs) + 1.0

    @property
    def height(self) -> float:
        ys = [y for _, y in self._points]
        return max(ys) - min(ys) + 1.0


def _cell_layout(cell: Cell) -> _Layout:
    positions = _layered_positions(cell.to_networkx())
    arcs, labels = [], []
    skips: dict[int, int] = {}
    pairs: dict[tuple[int, int], int] = {}
    for source, target, _ in cell.edges:
        (x0, y0), (x1, y1) = positions[source], positions[target]
        span = round(abs(x1 - x0))
        rad = 0.0
        if span > 1:  # skip connections: alternately above and below, wider the further they reach
            k = skips.get(span, 0)
            skips[span] = k + 1
            rad = (0.25 + 0.1 * span) * (1 if k % 2 else -1)
        repeat = pairs.get((source, target), 0)
        pairs[(source, target)] = repeat + 1
        rad += 0.2 * ((repeat + 1) // 2) * (1 if repeat % 2 else -1) if repeat else 0.0
        # arc3 bends the edge toward a control point rad * length off the chord's middle; the curve's
        # own middle is half-way there.
        dx, dy = x1 - x0, y1 - y0
        arcs.append(rad)
        labels.append(((x0 + x1) / 2 + 0.5 * rad * dy, (y0 + y1) / 2 - 0.5 * rad * dx))
    return _Layout(positions, arcs, labels)


def _draw_cell(axes: Any, cell: Cell, layout: _Layout) -> None:
    positions = layout.nodes
    for (source, target, op), rad, (lx, ly) in zip(cell.edges, layout.arcs, layout.labels, strict=True):
        dashed = op in ("none", "zero")
        axes.annotate(
            "",
            xy=positions[target],
            xytext=positions[source],
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.65" if dashed else "0.25",
                "linestyle": "--" if dashed else "-",
                "shrinkA": 16,
                "shrinkB": 16,
                "connectionstyle": f"arc3,rad={rad}",
            },
        )
        if op:
            axes.text(
                lx,
                ly,
                op,
                fontsize=8,
                ha="center",
                va="center",
                color="0.5" if dashed else "black",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9},
                zorder=2,
            )
    for node, (x, y) in positions.items():
        role = "input" if node in cell.inputs else "output" if node == cell.output else "inner"
        colour = {"input": "#cfe8ff", "output": "#ffd9b3", "inner": "#e8e8e8"}[role]
        axes.text(
            x,
            y,
            cell.nodes[node],
            fontsize=9,
            ha="center",
            va="center",
            bbox={"boxstyle": "round,pad=0.4", "fc": colour, "ec": "0.3"},
            zorder=3,
        )
    xs = [x for x, _ in layout._points]
    ys = [y for _, y in layout._points]
    axes.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    axes.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    axes.axis("off")


def _layered_positions(graph: nx.MultiDiGraph) -> dict[int, tuple[float, float]]:
    """Node -> (x, y): x is the longest-path depth from a source, nodes of one depth spread on y."""
    depth: dict[int, int] = {}
    for node in nx.topological_sort(graph):
        depth[node] = max((depth[p] + 1 for p in graph.predecessors(node)), default=0)
    layers: dict[int, list[int]] = {}
    for node in sorted(graph.nodes):
        layers.setdefault(depth[node], []).append(node)
    positions: dict[int, tuple[float, float]] = {}
    for x, nodes in layers.items():
        for i, node in enumerate(nodes):
            positions[node] = (float(x), (len(nodes) - 1) / 2 - i)
    return positions
