"""The categorical GP's inputs: one integer code per parameter of a space (:class:`ParameterCodes`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bonas.architecture import Architecture
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import SearchSpace


@dataclass(frozen=True)
class SharedChoices:
    """Parameters of a space that have the same choices: their code columns and their number of choices."""

    columns: tuple[int, ...]
    levels: int


class ParameterCodes:
    """Architectures of ``space`` -> ``n x p`` float64 integer codes, one column per parameter.

    A column holds the index of the parameter's value among its choices, or ``len(choices)`` when the
    parameter is inactive, so "inactive" is one more category. Columns follow the space's parameters.

    Args:
        space: the search space whose parameters are coded.
        owner: the name of the surrogate using the codes, for error messages.
    """

    def __init__(self, space: SearchSpace, *, owner: str) -> None:
        self.space = space
        self.owner = owner
        self._choices = [
            (parameter.name, {value: index for index, value in enumerate(parameter.choices)})
            for parameter in space.parameters
        ]

    def shared_choices(self) -> list[SharedChoices]:
        """Each set of at least two parameters whose choices are the same values in the same order (the
        edges of a cell choosing among the same operations), in the order of their first column."""
        columns: dict[tuple[tuple[str, object], ...], list[int]] = {}
        for column, parameter in enumerate(self.space.parameters):
            # Typed, so choices (1, 2) and (True, 2), equal in Python, stay apart.
            key = tuple((type(choice).__name__, choice) for choice in parameter.choices)
            columns.setdefault(key, []).append(column)
        return [
            SharedChoices(tuple(group), len(choices)) for choices, group in columns.items() if len(group) >= 2
        ]

    def __call__(self, architectures: list[Architecture]) -> Tensor:
        """``n x p`` codes of ``architectures``.

        Raises:
            InvalidArchitectureError: an architecture is not of ``space``, or has a value not a choice.
        """
        rows = []
        for arch in architectures:
            if not isinstance(arch, Architecture) or arch.space != self.space.name:
                raise InvalidArchitectureError(
                    f"{self.owner} is for space {self.space.name!r}; got {arch!r}, which is not one of its "
                    "architectures."
                )
            params = dict(arch.params)
            row = []
            for name, index in self._choices:
                if name not in params:
                    row.append(len(index))
                elif params[name] in index:
                    row.append(index[params[name]])
                else:
                    raise InvalidArchitectureError(
                        f"{arch.text!r} has {name}={params[name]!r}, not a choice of space {self.space.name!r}."
                    )
            rows.append(row)
        return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), len(self._choices))
