"""Architectures as token sequences: one token per categorical parameter of a search space.

The vocabulary is the union of every ``(position, choice)`` pair plus one padding token, so a token says
both which parameter it belongs to and which value it takes; a parameter that is inactive (its
condition on earlier parameters is false) is the padding token. Every position therefore has its own
set of legal tokens, which is what lets a decoder produce only legal sequences (see
:meth:`ArchitectureTokenizer.legal_tokens`).

Example (NAS-Bench-201: 6 positions of 5 operations, 31 tokens)::

    tokenizer = ArchitectureTokenizer(NB201Space())
    tokens = tokenizer.encode([arch])            # 1 x 6 LongTensor
    tokenizer.to_params(tokens[0].tolist())      # {'edge_0_1': 'nor_conv_3x3', ...}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from bonas.architecture import Architecture, ParamValue
from bonas.errors import InvalidArchitectureError
from bonas.spaces.base import Params, SearchSpace

#: Token of an inactive parameter.
PAD = 0


class ArchitectureTokenizer:
    """Maps architectures of ``space`` to ``L``-token sequences (``L`` = number of parameters) and back.

    Args:
        space: the search space; its parameter order is the sequence order.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.parameters = space.parameters
        self.length = len(self.parameters)
        self._offsets: list[int] = []
        self._token_of: list[dict[ParamValue, int]] = []
        next_token = PAD + 1
        for parameter in self.parameters:
            self._offsets.append(next_token)
            self._token_of.append({choice: next_token + i for i, choice in enumerate(parameter.choices)})
            next_token += len(parameter.choices)
        self.vocab_size = next_token
        #: Whether some parameter has a condition (then legality depends on earlier tokens).
        self.is_conditional = any(parameter.active_if is not None for parameter in self.parameters)
        mask = torch.zeros(self.length, self.vocab_size, dtype=torch.bool)
        for position, parameter in enumerate(self.parameters):
            start = self._offsets[position]
            mask[position, start : start + len(parameter.choices)] = True
            if parameter.active_if is not None:
                mask[position, PAD] = True
        self._static_mask = mask

    def encode(self, architectures: Sequence[Architecture]) -> torch.Tensor:
        """``n x L`` LongTensor of token ids (``PAD`` where a parameter is inactive)."""
        rows = []
        for architecture in architectures:
            params = self.space.to_params(architecture)
            rows.append(
                [
                    self._token_of[i][params[p.name]] if p.name in params else PAD
                    for i, p in enumerate(self.parameters)
                ]
            )
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.length)

    def to_params(self, tokens: Sequence[int]) -> dict[str, ParamValue]:
        """The parameter dict of one token sequence (padding dropped); not checked for validity.

        Raises:
            InvalidArchitectureError: the sequence has the wrong length or a token belongs to another
                position.
        """
        if len(tokens) != self.length:
            raise InvalidArchitectureError(
                f"A token sequence of space {self.space.name!r} has {self.length} tokens, got {len(tokens)}."
            )
        params: dict[str, ParamValue] = {}
        for position, (parameter, token) in enumerate(zip(self.parameters, tokens, strict=True)):
            token = int(token)
            if token == PAD:
                continue
            index = token - self._offsets[position]
            if not 0 <= index < len(parameter.choices):
                raise InvalidArchitectureError(
                    f"Token {token} is not a choice of parameter {parameter.name!r} (position {position}); "
                    f"its tokens are {self._offsets[position]}..{self._offsets[position] + len(parameter.choices) - 1}."
                )
            params[parameter.name] = parameter.choices[index]
        return params

    def decode(self, tokens: Sequence[int]) -> Architecture | None:
        """The architecture of a token sequence, or None if it is not valid in the space."""
        params = self.to_params(tokens)
        return self.space.from_params(params) if self.space.is_valid(params) else None

    def token(self, position: int, value: ParamValue) -> int:
        """The token of ``value`` at ``position``."""
        return self._token_of[position][value]

    @property
    def static_mask(self) -> torch.Tensor:
        """``L x V`` bool tensor: tokens that can ever appear at each position (``PAD`` if conditional)."""
        return self._static_mask

    def legal_tokens(self, position: int, earlier: Params) -> torch.Tensor:
        """``V`` bool tensor of the legal tokens at ``position`` given the parameters decoded before it.

        Only ``PAD`` if the parameter is inactive given ``earlier``, else exactly its choices.
        """
        parameter = self.parameters[position]
        legal = torch.zeros(self.vocab_size, dtype=torch.bool)
        if parameter.is_active(earlier):
            start = self._offsets[position]
            legal[start : start + len(parameter.choices)] = True
        else:
            legal[PAD] = True
        return legal

    def step_mask(self, position: int, prefix: torch.Tensor) -> torch.Tensor:
        """``n x V`` bool tensor of the legal tokens at ``position`` after the ``n x position`` ``prefix``.

        The :data:`bonas.nao.model.StepMask` a decoder needs to produce only legal sequences: without
        conditional parameters it is the static mask's row; with them each row follows its own prefix.
        """
        n = prefix.shape[0]
        if not self.is_conditional:
            return self._static_mask[position].expand(n, self.vocab_size)
        rows = []
        for row in prefix.tolist():
            earlier = self.to_params(row + [PAD] * (self.length - len(row)))
            rows.append(self.legal_tokens(position, earlier))
        return torch.stack(rows) if rows else torch.zeros(0, self.vocab_size, dtype=torch.bool)

    def __repr__(self) -> str:
        return f"ArchitectureTokenizer(space={self.space.name!r}, length={self.length}, vocab_size={self.vocab_size})"
