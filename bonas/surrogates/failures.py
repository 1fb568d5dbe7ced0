"""Which architectures an objective fails on: a classifier of failed against completed evaluations.

A real training run fails for reasons tied to the architecture (out of memory for the widest and deepest
cells, a loss that diverges without normalisation), and the value model never sees those trials: to it a
region of failures is unexplored, so its acquisition keeps proposing there. :class:`FailureModel` learns
from the architectures whose evaluation failed and those that completed, and gives each candidate its
probability of failing, so that a searcher can weigh its acquisition by the chance to complete (see
:class:`~bonas.samplers.bayesian.BayesianOptimizationSampler`'s ``model_failures``).

The classifier is scikit-learn's random forest on a one-hot code of every parameter (an inactive
conditional parameter is one more value) and, for parameters with the same choices, the share of them
taking each value (NB201's six edges: how many hold a 3x3 convolution; :func:`value_shares`, the
categorical GP's features): it needs no graph, so it serves every space; a few trees capture a
conjunction such as "deepest and widest" that a distance to the failed architectures would not, and the
shares a count such as "four or more convolutions" that splits on single edges would need many leaves
for. On NB201 with the cells above the 75th percentile of parameters failing, from 60 random
evaluations (5 draws): the one-hot code alone misses 37% of the failing cells and flags 16% of the
others; with the shares 16% and 9%.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bonas.architecture import Architecture
from bonas.history import SearchHistory
from bonas.spaces.base import SearchSpace
from bonas.surrogates.gp.kernels import value_shares
from bonas.surrogates.gp.parameter_codes import ParameterCodes

if TYPE_CHECKING:
    from sklearn.ensemble import RandomForestClassifier

#: Trees of the forest: its probabilities move in steps of 1 / TREES.
TREES = 64


class FailureModel:
    """The probability that evaluating an architecture of ``space`` fails, learned from past evaluations.

    Args:
        space: the search space.
        seed: seed of the forest's randomness (a sampler passes one drawn from its own generator).
    """

    def __init__(self, space: SearchSpace, *, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self._codes = ParameterCodes(space, owner="FailureModel")
        self._levels = [len(parameter.choices) + 1 for parameter in space.parameters]
        self._shared = self._codes.shared_choices()
        self._forest: RandomForestClassifier | None = None

    def fit(self, completed: list[Architecture], failed: list[Architecture]) -> FailureModel:
        """Learn from the architectures whose evaluation completed and those whose evaluation failed.

        Raises:
            ValueError: either list is empty (there is nothing to tell apart).
        """
        if not completed or not failed:
            raise ValueError(
                f"FailureModel needs completed and failed evaluations, got {len(completed)} completed and "
                f"{len(failed)} failed."
            )
        from sklearn.ensemble import RandomForestClassifier  # imported on first use: 0.8 s

        features = self._features(completed + failed)
        labels = np.array([0] * len(completed) + [1] * len(failed))
        self._forest = RandomForestClassifier(
            n_estimators=TREES, max_features=None, class_weight="balanced", random_state=self.seed, n_jobs=1
        )
        self._forest.fit(features, labels)
        return self

    def failure_probability(self, architectures: list[Architecture]) -> np.ndarray:
        """Each architecture's probability of failing (the share of trees that vote for a failure)."""
        if self._forest is None:
            raise RuntimeError("FailureModel.failure_probability called before fit.")
        if not architectures:
            return np.zeros(0)
        return self._forest.predict_proba(self._features(architectures))[:, 1]

    def _features(self, architectures: list[Architecture]) -> np.ndarray:
        """One-hot codes of every parameter, then the value shares of each set with the same choices."""
        codes = self._codes(architectures)
        columns = codes.numpy().astype(np.int64)
        blocks = [np.eye(levels, dtype=np.float32)[columns[:, c]] for c, levels in enumerate(self._levels)]
        if self._shared:
            blocks.append(value_shares(codes, self._shared).numpy().astype(np.float32))
        return np.concatenate(blocks, axis=1)


def completion_probability(
    space: SearchSpace, history: SearchHistory, candidates: list[Architecture]
) -> np.ndarray | None:
    """Each candidate's probability that its evaluation completes, from a :class:`FailureModel` fitted on
    ``history``'s completed and failed evaluations; None while none has failed (or none has completed).
    The forest's seed is the number of failures, so a resumed search proposes as the first run did."""
    if not history.failed or not history.observations:
        return None
    completed = [o.architecture for o in history.observations]
    model = FailureModel(space, seed=len(history.failed)).fit(completed, history.failed)
    return 1.0 - model.failure_probability(candidates)
