"""Ready objectives for :func:`bonas.search` that train the architectures they are given.

``train(...)`` returns an objective that builds the network of an architecture, trains it on a local
dataset and returns its validation accuracy (the searched metric) and its test accuracy (reported
only). Inside :func:`bonas.search` it reports the validation accuracy of every epoch to the running
Optuna trial, so a pruner passed to ``search(..., pruner=...)`` stops bad candidates early::

    import optuna
    import bonas
    from bonas.training import NetworkSettings, TrainingSettings

    objective = bonas.objectives.train(
        "digits", network=NetworkSettings(channels=8, cells_per_stage=1), settings=TrainingSettings(epochs=4)
    )
    result = bonas.search(bonas.get_space("nb201"), objective, n_trials=10,
                          pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from bonas.architecture import Architecture
    from bonas.training.datasets import DatasetSplits
    from bonas.training.networks import NetworkSettings
    from bonas.training.trainer import TrainingResult, TrainingSettings

logger = logging.getLogger(__name__)

#: ``builder(architecture, data)`` returning a fresh network for ``data``.
NetworkFactory = Callable[["Architecture", "DatasetSplits"], "nn.Module"]


@dataclass
class TrainingObjective:
    """Trains each architecture it is called with; see :func:`train`.

    Attributes:
        results: the :class:`~bonas.training.trainer.TrainingResult` of every completed training, by
            architecture string.
    """

    dataset: str
    network: NetworkSettings | NetworkFactory | None = None
    settings: TrainingSettings | None = None
    data_dir: str | Path | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    measure_latency: bool = True
    results: dict[str, TrainingResult] = field(default_factory=dict, init=False, repr=False)
    _data: DatasetSplits | None = field(default=None, init=False, repr=False)
    _trainer: Any = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return f"train-{self.dataset}"

    @property
    def data(self) -> DatasetSplits:
        """The dataset splits, loaded on first use."""
        if self._data is None:
            from bonas.training.datasets import load_dataset

            self._data = load_dataset(self.dataset, self.data_dir, **self.dataset_options)
            logger.info("Loaded %r", self._data)
        return self._data

    def build(self, architecture: Architecture) -> nn.Module:
        """A freshly initialised network for ``architecture`` (seeded by the training seed)."""
        import torch

        from bonas.training.networks import NetworkSettings, build_network

        data = self.data
        seed = self.settings.seed if self.settings is not None else 0
        torch.manual_seed(seed)
        if callable(self.network) and not isinstance(self.network, NetworkSettings):
            return self.network(architecture, data)
        return build_network(
            architecture, input_shape=data.input_shape, num_classes=data.num_classes, settings=self.network
        )

    def costs(self, model: nn.Module, batch_size: int) -> dict[str, float]:
        """What ``model`` costs to run: ``params``, ``flops`` (one input, ``torch.utils.flop_counter``)
        and, with :attr:`measure_latency`, the measured inference latency in milliseconds on the model's
        device at batch 1 (``latency_ms``) and at the training batch size (``batch_latency_ms``): warm-up
        passes, then the median of timed repeats."""
        from bonas.training.costs import count_flops, measure_latency
        from bonas.training.networks import count_parameters

        shape = tuple(self.data.input_shape)
        costs = {"params": float(count_parameters(model)), "flops": float(count_flops(model, shape))}
        if self.measure_latency:
            costs["latency_ms"] = measure_latency(model, shape, batch_size=1)
            costs["batch_latency_ms"] = measure_latency(model, shape, batch_size=batch_size, repeats=5)
        return costs

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        """Train ``architecture``; return ``val_accuracy`` (last epoch), ``test_accuracy`` and costs.

        Raises:
            optuna.TrialPruned: the running trial's pruner stopped it after some epoch.
            DivergedError: the loss became NaN or infinite.
            TrainingOutOfMemoryError: the device ran out of memory.
        """
        import optuna

        from bonas.training.trainer import Trainer
        from bonas.trials import PRUNED_AT_EPOCH_ATTR, current_trial

        if self._trainer is None:
            self._trainer = Trainer(self.settings)
        trainer: Trainer = self._trainer
        trial = current_trial()

        def report(epoch: int, val_accuracy: float) -> None:
            if trial is None:
                return
            trial.report(val_accuracy, step=epoch)
            if trial.should_prune():
                trial.set_user_attr(PRUNED_AT_EPOCH_ATTR, epoch)
                raise optuna.TrialPruned(f"pruned after epoch {epoch} at val_accuracy {val_accuracy:.2f}")

        model = self.build(architecture)
        result = trainer.fit(model, self.data, report=report)
        self.results[str(architecture)] = result
        costs = self.costs(model, trainer.settings.batch_size)
        return {
            "val_accuracy": result.final_val_accuracy,
            "test_accuracy": float(result.test_accuracy)
            if result.test_accuracy is not None
            else float("nan"),
            "train_seconds": result.train_seconds,
            "images_per_second": result.images_per_second,
            "epochs": float(len(result.val_accuracy)),
            **costs,
        }


def train(
    dataset: str = "digits",
    *,
    network: NetworkSettings | NetworkFactory | None = None,
    settings: TrainingSettings | None = None,
    data_dir: str | Path | None = None,
    measure_latency: bool = True,
    **dataset_options: Any,
) -> TrainingObjective:
    """An objective that trains each architecture on ``dataset`` and returns its accuracies.

    Args:
        dataset: ``digits`` (default, embedded), ``fashion-mnist``, ``mnist`` or ``cifar10``
            (see :func:`bonas.training.datasets.load_dataset`).
        network: :class:`~bonas.training.networks.NetworkSettings` (``C`` and ``N`` of cell networks)
            or a ``builder(architecture, data)`` returning a module; default NB201's ``C=16, N=5``.
        settings: the :class:`~bonas.training.trainer.TrainingSettings` (epochs = the budget per
            candidate, batch size, optimizer, precision, device, seed).
        data_dir: where the dataset's files are (required for ``cifar10``).
        measure_latency: time the trained network's inference (``latency_ms``, ``batch_latency_ms``);
            False leaves them out (a few hundred forward passes fewer per candidate).
        **dataset_options: ``seed``, ``val_size``, ``train_size``, ``test_size`` of the dataset loader
            (e.g. ``train_size=5000`` for a short run).

    Returns:
        A callable ``objective(architecture) -> {"val_accuracy", "test_accuracy", "train_seconds",
        "images_per_second", "epochs", "params", "flops", "latency_ms", "batch_latency_ms"}`` (accuracies
        in percent; FLOPs of one input; inference latencies in milliseconds on the training device, at
        batch 1 and at the training batch size, see :meth:`TrainingObjective.costs`) for
        :func:`bonas.search`, e.g. with ``objectives={"val_accuracy": "maximize", "latency_ms":
        "minimize"}``.
    """
    from bonas.training.datasets import dataset_names

    if dataset not in dataset_names():
        from bonas.errors import unknown_name

        raise unknown_name("dataset", dataset, dataset_names())
    return TrainingObjective(
        dataset=dataset,
        network=network,
        settings=settings,
        data_dir=data_dir,
        dataset_options=dataset_options,
        measure_latency=measure_latency,
    )
