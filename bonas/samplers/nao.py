"""Neural Architecture Optimization (NAO), Luo et al. 2018, as an architecture sampler.

Each proposal after ``n_initial`` random ones:

1. train the encoder-predictor-decoder (:class:`~bonas.nao.controller.NAOController`) on every
   completed evaluation, fine-tuning the previous round's weights when the history only grew;
2. move the embeddings of the ``n_starts`` best architectures along the predictor's gradient with
   growing step sizes and decode them; per start, keep the decode at the smallest step size that is a
   valid architecture not evaluated or pending yet (NAO grows the step until the decode is new);
3. propose the kept architecture the predictor rates highest.

When no start decodes to a new architecture (the model is confident all moves lead back to evaluated
cells), a mutation of the best architecture is proposed instead, and the fallback is logged.

Values are modelled through their Gaussian copula (normal scores of the ranks) by default, as the BO
sampler does: robust to the long tail of broken architectures and to the metric's units.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from bonas.architecture import Architecture
from bonas.errors import unknown_name
from bonas.history import SearchHistory
from bonas.nao.controller import ImprovedCandidate, NAOController, NAOSettings
from bonas.samplers.base import ArchitectureSampler
from bonas.spaces.base import SearchSpace
from bonas.surrogates.transforms import copula_transform

logger = logging.getLogger(__name__)

OUTPUT_TRANSFORMS = ("copula", "none")

#: Default step sizes along the unit gradient, in units of the embedding's norm ``sqrt(L)``.
#: Ratio sqrt(2) from 0.1 to 3.2: fine enough that a start's decode rarely jumps from itself straight to
#: an evaluated architecture, skipping the new ones between.
DEFAULT_STEP_SIZES = tuple(round(0.1 * 2 ** (i / 2), 4) for i in range(11))


@dataclass
class NAORound:
    """What one NAO proposal did (for logs, tests and the report).

    Args:
        candidates: every decoded candidate, start by start.
        kept: per start, the candidate kept (smallest step with a new valid decode), if any.
        chosen: the proposed candidate, or None when the sampler fell back to a mutation.
        warm_start: whether the controller fine-tuned the previous weights.
    """

    candidates: list[ImprovedCandidate] = field(default_factory=list)
    kept: list[ImprovedCandidate] = field(default_factory=list)
    chosen: ImprovedCandidate | None = None
    warm_start: bool = False


class NAOSampler(ArchitectureSampler):
    """NAO: gradient ascent on the predictor in the embedding space of an autoencoder of architectures.

    Args:
        space: the search space.
        n_initial: random proposals before the controller is used.
        n_starts: best architectures whose embeddings are moved each round.
        step_sizes: increasing step sizes along the unit gradient, in units of ``sqrt(L)``.
        n_unlabeled: random architectures drawn each round for the reconstruction loss only (they keep
            the decoder from collapsing onto the few evaluated architectures; 0 trains on those alone).
        settings: network size and training (:class:`~bonas.nao.controller.NAOSettings`).
        output_transform: ``copula`` models the normal scores of the values' ranks, ``none`` the values.
        device: ``"auto"`` (CUDA when available, else CPU) or a torch device.
        seed: seed of the sampler's generator and of the network's initial weights.
        allow_repeats: allow proposing architectures already evaluated (noisy objectives).
        batch_size: architectures proposed jointly per batch (see :class:`ArchitectureSampler`).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_initial: int = 10,
        n_starts: int = 20,
        step_sizes: Sequence[float] = DEFAULT_STEP_SIZES,
        n_unlabeled: int = 100,
        settings: NAOSettings | None = None,
        output_transform: str = "copula",
        device: str | torch.device | None = "auto",
        seed: int | None = None,
        allow_repeats: bool = False,
        batch_size: int = 1,
    ) -> None:
        if n_initial < 1 or n_starts < 1 or n_unlabeled < 0:
            raise ValueError(
                f"Need n_initial >= 1, n_starts >= 1 and n_unlabeled >= 0, got ({n_initial=}, {n_starts=}, "
                f"{n_unlabeled=})."
            )
        steps = tuple(float(s) for s in step_sizes)
        if not steps or any(s <= 0 for s in steps) or list(steps) != sorted(steps):
            raise ValueError(f"step_sizes must be positive and increasing, got {steps}.")
        if output_transform not in OUTPUT_TRANSFORMS:
            raise unknown_name("output transform", output_transform, OUTPUT_TRANSFORMS)
        super().__init__(space, seed=seed, allow_repeats=allow_repeats, batch_size=batch_size)
        self.n_initial = n_initial
        self.n_starts = n_starts
        self.step_sizes = steps
        self.n_unlabeled = n_unlabeled
        self.output_transform = output_transform
        self.controller = NAOController(space, settings, device=device, seed=int(self._rng.integers(2**31)))
        self.last_round: NAORound | None = None
        self._trained_on: list[str] = []

    def propose(self, history: SearchHistory, rng: np.random.Generator) -> Architecture:
        observations = history.observations
        if len(observations) < self.n_initial:
            return self.random_new(history, rng)
        hashes = [o.architecture.canonical_hash for o in observations]
        warm = bool(self._trained_on) and hashes[: len(self._trained_on)] == self._trained_on
        self.controller.fit(
            [o.architecture for o in observations],
            self._transform([o.value for o in observations]),
            unlabeled=[self.space.sample(rng) for _ in range(self.n_unlabeled)],
            warm_start=warm,
        )
        self._trained_on = hashes
        starts = [o.architecture for o in history.best(self.n_starts)]
        round_ = NAORound(candidates=self.controller.improve(starts, self.step_sizes), warm_start=warm)
        self.last_round = round_
        proposed: set[str] = set()
        for start in range(len(starts)):
            for candidate in round_.candidates[
                start * len(self.step_sizes) : (start + 1) * len(self.step_sizes)
            ]:
                architecture = candidate.architecture
                if architecture is None or not (self.allow_repeats or history.is_new(architecture)):
                    continue
                if architecture == starts[start] or architecture.canonical_hash in proposed:
                    continue
                round_.kept.append(candidate)
                proposed.add(architecture.canonical_hash)
                break
        if round_.kept:
            round_.chosen = max(round_.kept, key=lambda c: c.predicted)
            assert round_.chosen.architecture is not None  # kept candidates decoded
            return round_.chosen.architecture
        best = history.best(1)[0].architecture
        logger.info(
            "NAO: no gradient step from the %d best architectures decoded to a new one; proposing a "
            "mutation of the best (%s).",
            len(starts),
            best.text,
        )
        return self.first_new(history, lambda: self.space.mutate(best, rng), rng)

    def _transform(self, values: list[float]) -> list[float]:
        """The values the controller models: raw, or their Gaussian copula (normal scores of the ranks)."""
        return values if self.output_transform == "none" else copula_transform(values)
