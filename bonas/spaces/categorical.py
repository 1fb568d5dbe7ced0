"""User-defined spaces: categorical choices, optional conditions and validity constraint, optional graph.

Example, the MLP space of the seeds (1-3 hidden layers, each width from a list)::

    space = mlp_space()
    arch = space.from_params({"n_layers": 2, "width_1": 64, "width_2": 128})
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from bonas.architecture import Architecture, Cell, ParamValue
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import Categorical, Params, SearchSpace, split_pairs

logger = logging.getLogger(__name__)

GraphBuilder = Callable[[Params], Cell]
Constraint = Callable[[Params], bool]


class CategoricalSpace(SearchSpace):
    """A search space from a list of categorical parameters.

    Args:
        name: the space's name (recorded with every architecture).
        parameters: the choices, in decision order; a :class:`Categorical` may carry ``active_if``.
        constraint: optional validity test on a complete parameter dict; invalid combinations are never
            sampled, mutated into or enumerated.
        graph: optional function from parameters to a :class:`Cell`; with it, isomorphic architectures
            share a canonical hash and graph encodings apply. Without it the parameters are the identity.

    String form: ``name=value`` pairs joined by commas, e.g. ``n_layers=2,width_1=64,width_2=128``.
    """

    def __init__(
        self,
        name: str,
        parameters: Sequence[Categorical],
        *,
        constraint: Constraint | None = None,
        graph: GraphBuilder | None = None,
    ) -> None:
        names = [parameter.name for parameter in parameters]
        if not names:
            raise ValueError(f"Space {name!r} needs at least one parameter.")
        if len(set(names)) != len(names):
            raise ValueError(f"Space {name!r} has repeated parameter names: {names}.")
        for parameter in parameters:
            if parameter.name != parameter.name.strip() or "," in parameter.name or "=" in parameter.name:
                raise ValueError(
                    f"Parameter name {parameter.name!r} has ',' or '=' or surrounding spaces, which the string "
                    "form cannot carry; rename it."
                )
            if len({str(choice) for choice in parameter.choices}) != len(parameter.choices):
                raise ValueError(
                    f"Choices {list(parameter.choices)} of {parameter.name!r} print alike (e.g. 1 and '1'), so "
                    "the string form could not tell them apart; make them distinct as text."
                )
            for choice in parameter.choices:
                if isinstance(choice, str) and ("," in choice or "=" in choice):
                    raise ValueError(
                        f"Choice {choice!r} of {parameter.name!r} contains ',' or '=', which the string form "
                        "uses as separators; rename it."
                    )
        self.name = name
        self._parameters = tuple(parameters)
        self._constraint = constraint
        self._graph = graph
        self._check_definition()

    def _check_definition(self) -> None:
        """Draw a few architectures now: a condition or constraint that reads an unknown parameter fails
        here, named, and parameters the graph builder leaves out are named in a warning."""
        rng = np.random.default_rng(0)
        try:
            for _ in range(8):
                self.sample(rng)
            lost = self.parameters_outside_the_hash(rng) if self._graph is not None else []
        except InvalidArchitectureError:  # a constraint that rejects (almost) everything: said where sampled
            return
        if lost:
            logger.warning(
                "Parameters %s of space %r never change its graph (graph=): architectures that differ only in "
                "them share a canonical hash and count as one, so a search evaluates one of them. Put them into "
                "the graph (e.g. in its node labels), or leave them out of the space.",
                ", ".join(map(repr, lost)),
                self.name,
            )

    @property
    def parameters(self) -> tuple[Categorical, ...]:
        return self._parameters

    def check_params(self, params: Params) -> None:
        if self._constraint is None:
            return
        try:
            holds = self._constraint(params)
        except KeyError as error:
            raise ValueError(
                f"The constraint of space {self.name!r} raised KeyError {error} on {dict(params)}: if {error} is a "
                "parameter, it is inactive there (left out); read it with params.get(name)."
            ) from None
        if not holds:
            raise InvalidArchitectureError(f"{dict(params)} violates the constraint of space {self.name!r}.")

    def build(self, params: Params) -> tuple[tuple[tuple[str, Cell], ...], str]:
        text = ",".join(f"{name}={value}" for name, value in params.items())
        cells = (("graph", self._graph(params)),) if self._graph is not None else ()
        return cells, text

    def parse(self, text: str) -> Architecture:
        if not isinstance(text, str) or not text.strip():
            raise InvalidArchitectureError(
                f"Expected a string like 'name=value,...' for space {self.name!r}, got {text!r}."
            )
        params: dict[str, ParamValue] = {}
        for name, raw in split_pairs(text):
            if name in params:
                raise InvalidArchitectureError(f"Parameter {name!r} appears twice in {text!r}; give it once.")
            parameter = self._parameter(name)
            matches = [choice for choice in parameter.choices if str(choice) == raw]
            if not matches:
                raise InvalidArchitectureError(
                    f"Value {raw!r} of {name!r} in {text!r} is not a choice; choose one of "
                    f"{list(parameter.choices)}."
                )
            params[name] = matches[0]
        return self.from_params(params)


#: Hidden-layer widths of the seeds' MLP space.
MLP_WIDTHS = (16, 32, 64, 128, 256, 512)


def mlp_space(*, max_layers: int = 3, widths: Sequence[int] = MLP_WIDTHS) -> CategoricalSpace:
    """The MLP space: 1 to ``max_layers`` hidden layers, each width from ``widths``.

    ``width_k`` is active only when ``n_layers >= k``. The graph is the chain
    input -> linear_<w1> -> ... -> output.
    """
    if max_layers < 1:
        raise ValueError(f"max_layers must be at least 1, got {max_layers}.")
    parameters = [Categorical("n_layers", tuple(range(1, max_layers + 1)))]
    for layer in range(1, max_layers + 1):
        parameters.append(
            Categorical(f"width_{layer}", tuple(widths), active_if=lambda p, k=layer: int(p["n_layers"]) >= k)
        )
    return CategoricalSpace("mlp", parameters, graph=_mlp_graph)


def _mlp_graph(params: Params) -> Cell:
    depth = int(params["n_layers"])  # type: ignore[arg-type]
    nodes = ("input", *(f"linear_{params[f'width_{k}']}" for k in range(1, depth + 1)), "output")
    return Cell(
        nodes=nodes, edges=tuple((i, i + 1, "") for i in range(len(nodes) - 1)), inputs=(0,), output=-1
    )
