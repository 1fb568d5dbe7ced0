"""Real training: networks built from architectures, local datasets, and a GPU-aware trainer.

* :mod:`bonas.training.ops`: the operation registry (:func:`register_op`).
* :mod:`bonas.training.networks`: NB201's cell network, the MLP space's networks, any cell DAG.
* :mod:`bonas.training.datasets`: digits, Fashion-MNIST, MNIST and CIFAR-10 from local files.
* :mod:`bonas.training.trainer`: :class:`Trainer` with mixed precision, channels-last and pruning hooks.
* :mod:`bonas.training.supernet`: :class:`Supernet`, one network whose edges hold every candidate
  operation, run on one architecture's path or on a continuous mixture (weight sharing).
* :mod:`bonas.training.weight_sharing`: :class:`SupernetTrainer`, training regimes and inherited-weight
  scores.
* :mod:`bonas.training.proxies`: zero-cost proxies (:func:`~bonas.training.proxies.synflow`), scores of
  an untrained network that predict its trained accuracy.

:func:`bonas.objectives.train` combines them into an objective for :func:`bonas.search`.
"""

from __future__ import annotations

from bonas.training.datasets import DatasetFormatError, DatasetSplits, dataset_names, load_dataset
from bonas.training.networks import (
    CellNetwork,
    DagCell,
    NetworkSettings,
    build_dag_network,
    build_network,
    cell_from_networkx,
    count_parameters,
    register_network_builder,
)
from bonas.training.ops import make_op, op_names, register_op
from bonas.training.supernet import (
    CellTemplate,
    Mixture,
    OutsideSupernetError,
    SubnetPath,
    Supernet,
    SupernetCheckpointError,
)
from bonas.training.trainer import (
    DivergedError,
    Trainer,
    TrainingOutOfMemoryError,
    TrainingResult,
    TrainingSettings,
)
from bonas.training.weight_sharing import SupernetSettings, SupernetTrainer

__all__ = [
    "CellNetwork",
    "CellTemplate",
    "DagCell",
    "DatasetFormatError",
    "DatasetSplits",
    "DivergedError",
    "Mixture",
    "NetworkSettings",
    "OutsideSupernetError",
    "SubnetPath",
    "Supernet",
    "SupernetCheckpointError",
    "SupernetSettings",
    "SupernetTrainer",
    "Trainer",
    "TrainingOutOfMemoryError",
    "TrainingResult",
    "TrainingSettings",
    "build_dag_network",
    "build_network",
    "cell_from_networkx",
    "count_parameters",
    "dataset_names",
    "load_dataset",
    "make_op",
    "op_names",
    "register_network_builder",
    "register_op",
]
