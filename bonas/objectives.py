"""Ready objectives for :func:`bonas.search` that train the architectures they are given.

``train(...)`` returns an objective that builds the network of an architecture, trains it on a local
dataset and returns its validation accuracy (the searched metric) and its test accuracy (reported
only); its trials are marked ``fidelity=stand-alone``. ``weight_sharing(...)`` returns one that scores
architectures with weights inherited from a supernet (``fidelity=weight-sharing``): trained once,
single path, then any architecture in milliseconds to a second (one-shot), or trained on each batch a
searcher proposes before scoring the whole batch (BONAS). Inside :func:`bonas.search` the training
objective reports the validation accuracy of every epoch to the running Optuna trial, so a pruner
passed to ``search(..., pruner=...)`` stops bad candidates early::

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

import dataclasses
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bonas.errors import InvalidArchitectureError, SetupError

if TYPE_CHECKING:
    from torch import nn

    from bonas.architecture import Architecture
    from bonas.spaces.base import SearchSpace
    from bonas.training.datasets import DatasetSplits
    from bonas.training.networks import NetworkSettings
    from bonas.training.trainer import TrainingResult, TrainingSettings
    from bonas.training.weight_sharing import SupernetSettings, SupernetTrainer

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

    dataset: str | DatasetSplits
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
        return f"train-{_dataset_name(self.dataset)}"

    @property
    def recipe(self) -> str:
        """What besides the architecture decides the values: the network, the training settings (but the
        device and speed-only options) and the data. A study refuses to continue with another recipe: its
        values would mix two training budgets."""
        from bonas.training import NetworkSettings, TrainingSettings

        given = self.settings or TrainingSettings()
        settings = dataclasses.asdict(given)
        for speed_only in ("device", "channels_last", "compile"):
            settings.pop(speed_only, None)
        settings["lr"], settings["weight_decay"] = given.learning_rate, given.decay  # defaults resolved
        network = self.network or NetworkSettings()
        if isinstance(network, NetworkSettings):
            parts = [f"network C={network.channels} N={network.cells_per_stage}"]
        else:
            parts = [f"network {getattr(network, '__qualname__', type(network).__name__)}"]
        parts += [f"{key}={value}" for key, value in settings.items()]
        if isinstance(self.dataset, str):
            from bonas.training.datasets import loader_options

            options = loader_options(self.dataset, self.dataset_options)
            parts += [f"data {key}={value}" for key, value in sorted(options.items())]
        else:
            parts.append(f"data given {_splits_fingerprint(self.dataset)[:12]}")
        return ", ".join(parts)

    @property
    def data(self) -> DatasetSplits:
        """The dataset splits, loaded on first use."""
        if self._data is None:
            self._data = _load(self.dataset, self.data_dir, self.dataset_options)
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
        from bonas.trials import PRUNED_AT_EPOCH_ATTR, STAND_ALONE, current_trial, record_fidelity

        if self._trainer is None:
            self._trainer = Trainer(self.settings)
        trainer: Trainer = self._trainer
        trial = current_trial()

        def report(epoch: int, val_accuracy: float) -> None:
            if trial is None or len(trial.study.directions) > 1:  # Optuna prunes single-objective trials only
                return
            trial.report(val_accuracy, step=epoch)
            # A candidate that has trained its last epoch is complete: pruning it would only lose the result.
            if epoch < trainer.settings.epochs and trial.should_prune():
                trial.set_user_attr(PRUNED_AT_EPOCH_ATTR, epoch)
                raise optuna.TrialPruned(f"pruned after epoch {epoch} at val_accuracy {val_accuracy:.2f}")

        record_fidelity(STAND_ALONE)
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


def _is_splits(dataset: object) -> bool:
    from bonas.training.datasets import DatasetSplits  # torch-heavy: import when used

    return isinstance(dataset, DatasetSplits)


def _dataset_name(dataset: str | DatasetSplits) -> str:
    return dataset if isinstance(dataset, str) else dataset.name


def _load(
    dataset: str | DatasetSplits, data_dir: str | Path | None, options: dict[str, Any]
) -> DatasetSplits:
    if not isinstance(dataset, str) and _is_splits(dataset):
        return dataset
    from bonas.training.datasets import load_dataset

    data = load_dataset(dataset, data_dir, **options)
    logger.info("Loaded %r", data)
    return data


def _check_dataset(dataset: object, options: dict[str, Any]) -> None:
    """Refuse, when the objective is built, a dataset bonas cannot load or options its loader does not
    take (each trial would fail alike)."""
    from bonas.architecture import Architecture
    from bonas.training.datasets import check_dataset_options

    if isinstance(dataset, Architecture):
        raise _searched_as_the_objective()
    if not isinstance(dataset, str) and _is_splits(dataset):
        return
    check_dataset_options(str(dataset), options)


def _splits_fingerprint(data: DatasetSplits) -> str:
    """A digest of the training and validation splits a supernet sees (their shapes, every label and a
    strided sample of the inputs): splits the user loaded with another seed or size differ in it."""
    import hashlib

    digest = hashlib.sha1(usedforsecurity=False)
    for tensor in (data.train_x, data.train_y, data.val_x, data.val_y):
        digest.update(repr(tuple(tensor.shape)).encode())
        sample = tensor if tensor.dim() == 1 else tensor.reshape(-1)[::997]
        digest.update(sample.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class ObjectiveFactoryError(SetupError, TypeError):
    """An objective factory (:func:`train`, :func:`weight_sharing`) was searched as if it were the objective."""


def _searched_as_the_objective() -> ObjectiveFactoryError:
    """The error of a factory called with an architecture (its first argument) during a search."""
    return ObjectiveFactoryError(
        "A function that builds an objective (bonas.objectives.train, weight_sharing) was called with an "
        "architecture: it was given as the objective itself. Build the objective once in your module "
        "(objective = bonas.objectives.train('digits', ...)) and search that (--objective MODULE:objective)."
    )


class ObjectiveSpaceError(SetupError, InvalidArchitectureError):
    """An objective built for one space was given an architecture of another (every one would fail alike)."""


def train(
    dataset: str | DatasetSplits = "digits",
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
            (see :func:`bonas.training.datasets.load_dataset`), or :class:`DatasetSplits` of your own.
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
    _check_dataset(dataset, dataset_options)
    return TrainingObjective(
        dataset=dataset,
        network=network,
        settings=settings,
        data_dir=data_dir,
        dataset_options=dataset_options,
        measure_latency=measure_latency,
    )


# -- Weight sharing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchTraining:
    """How a weight-sharing objective trains on each batch a searcher proposes (BONAS).

    Args:
        whole_epochs: epochs of the batch's union as a whole (each edge the mean of the operations any
            member uses there).
        path_epochs: then epochs of one member per minibatch, drawn uniformly.
    """

    whole_epochs: int = 1
    path_epochs: int = 2

    def __post_init__(self) -> None:
        for name in ("whole_epochs", "path_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"BatchTraining.{name} must be an integer >= 0, got {value!r}.")
        if self.whole_epochs + self.path_epochs == 0:
            raise ValueError("BatchTraining needs at least one epoch (whole_epochs + path_epochs >= 1).")


@dataclass
class WeightSharingObjective:
    """Scores architectures with weights inherited from one supernet; see :func:`weight_sharing`.

    Attributes:
        trainer: the :class:`~bonas.training.weight_sharing.SupernetTrainer` (built on first use).
        scores: every score given, by architecture string.
    """

    space: SearchSpace
    dataset: str | DatasetSplits
    network: NetworkSettings | None = None
    settings: SupernetSettings | None = None
    batches: BatchTraining | None = None
    checkpoint: str | Path | None = None
    data_dir: str | Path | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _trainer: SupernetTrainer | None = field(default=None, init=False, repr=False)
    _batch_scores: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _checkpoint_checked: bool = field(default=False, init=False, repr=False)
    _study_name: str | None = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        mode = "batches" if self.batches is not None else "one-shot"
        return f"weight-sharing-{mode}-{_dataset_name(self.dataset)}"

    @property
    def trainer(self) -> SupernetTrainer:
        """The supernet and its trainer, built (seeded by the settings' seed) on first use."""
        if self._trainer is None:
            import torch

            from bonas.training.supernet import Supernet
            from bonas.training.weight_sharing import SupernetSettings, SupernetTrainer

            data = _load(self.dataset, self.data_dir, self.dataset_options)
            settings = self.settings or SupernetSettings()
            if self.batches is not None and self.settings is None:
                settings = SupernetSettings(schedule="constant")
            with torch.random.fork_rng():
                torch.manual_seed(settings.seed)
                supernet = Supernet.for_space(
                    self.space,
                    input_shape=data.input_shape,
                    num_classes=data.num_classes,
                    settings=self.network,
                )
            self._trainer = SupernetTrainer(supernet, data, settings, population=self.space)
        return self._trainer

    def _resume(self) -> None:
        """Continue from the checkpoint (this objective's, else the one the running study names), and
        record its path on the study."""
        if self._checkpoint_checked:
            return
        from bonas.training.supernet import (
            SupernetCheckpointError,
            hold_checkpoint,
            read_checkpoint,
            release_checkpoint,
        )
        from bonas.trials import (
            SUPERNET_CHECKPOINT_ATTR,
            WEIGHT_SHARING,
            current_trial,
            evaluations,
            fidelity_of,
        )

        trial = current_trial()
        recorded = trial.study.user_attrs.get(SUPERNET_CHECKPOINT_ATTR) if trial is not None else None
        path = self.checkpoint if self.checkpoint is not None else recorded
        if self.checkpoint is None and recorded is not None:
            self.checkpoint = recorded
        if recorded is not None and Path(recorded).resolve() != Path(path).resolve():
            raise SupernetCheckpointError(
                f"Study {trial.study.study_name!r} scored its architectures on the supernet in {recorded!r}, "
                f"and this objective's checkpoint is {str(Path(path).resolve())!r}: the scores of two supernets "
                f"would mix. Continue with checkpoint={recorded!r} (or none: the study's is used), or search a "
                "new study."
            )
        scored = (
            [
                t
                for t in evaluations(trial.study.get_trials(deepcopy=False))
                if fidelity_of(t) == WEIGHT_SHARING
            ]
            if trial is not None
            else []
        )
        if recorded is not None and not Path(recorded).is_file() and scored:
            raise SupernetCheckpointError(
                f"Study {trial.study.study_name!r} scored {len(scored)} architectures on the supernet in "
                f"{recorded!r}, which does not exist (any more): a new supernet's scores would mix with "
                "them. Put the checkpoint back, or search a new study."
            )
        if path is None and scored:
            raise SupernetCheckpointError(
                f"Study {trial.study.study_name!r} holds {len(scored)} weight-sharing scores of a supernet that "
                "was not saved (its objective had no checkpoint=): a new supernet's scores would mix with them. "
                "Search a new study, and give the objective checkpoint=FILE so that a continued search finds "
                "its supernet."
            )
        self._study_name = trial.study.study_name if trial is not None else None
        if path is not None:
            hold_checkpoint(path)
            weakref.finalize(self, release_checkpoint, path)
        if path is not None and Path(path).is_file():
            payload = read_checkpoint(path)
            self._check_same_data(path, payload)
            self._check_same_training(path, payload, scored=bool(scored))
            extra = self.trainer.load(path, payload=payload)
            self._batch_scores.update(extra.get("batch_scores", {}))
            logger.info("Supernet continues from %s after %d epochs.", path, self.trainer.epochs_done)
        if trial is not None and path is not None and recorded is None:
            # Absolute: a search continued from another folder finds the same file.
            trial.study.set_user_attr(SUPERNET_CHECKPOINT_ATTR, str(Path(path).resolve()))
        self._checkpoint_checked = True

    def _data_identity(self) -> dict[str, Any]:
        """What the supernet is trained on, saved with its checkpoint: the dataset and its loader's options
        (defaults filled in), or ``given`` for splits the user loaded."""
        if not isinstance(self.dataset, str):
            return {
                "dataset": _dataset_name(self.dataset),
                "options": "given",
                "fingerprint": _splits_fingerprint(self.dataset),
            }
        from bonas.training.datasets import loader_options

        return {
            "dataset": self.dataset,
            "options": repr(sorted(loader_options(self.dataset, self.dataset_options).items())),
        }

    def _check_same_data(self, path: str | Path, payload: dict[str, Any]) -> None:
        """Refuse a checkpoint (``payload``, read from ``path``) trained on other data (another dataset,
        another subset) before loading it."""
        from bonas.training.supernet import SupernetCheckpointError

        saved = payload.get("extra", {}).get("data")
        ours = self._data_identity()
        if saved is not None and "fingerprint" not in saved:  # saved before given splits had one
            ours.pop("fingerprint", None)
        if saved is not None and saved != ours:
            if saved.get("options") == ours["options"] == "given":
                what = f"other splits of {ours['dataset']!r} than these (another seed, size or subset)"
            else:
                what = (
                    f"dataset {saved.get('dataset')!r} with options {saved.get('options')}, not on "
                    f"{ours['dataset']!r} with {ours['options']}"
                )
            raise SupernetCheckpointError(
                f"Supernet checkpoint {str(path)!r} was trained on {what}; give this objective a checkpoint path "
                "of its own."
            )

    def _training_identity(self) -> dict[str, Any]:
        """How the supernet is trained, saved with its checkpoint: the settings (but the device) and,
        for BONAS batches, how each batch is trained."""
        settings = {k: v for k, v in dataclasses.asdict(self.trainer.settings).items() if k != "device"}
        batches = dataclasses.asdict(self.batches) if self.batches is not None else None
        return {"settings": settings, "batches": batches}

    def _check_same_training(self, path: str | Path, payload: dict[str, Any], *, scored: bool) -> None:
        """Refuse a checkpoint saved with other settings where that matters: the study holds scores of it
        (``scored``: new ones would be scored otherwise), or this objective would train it further (the
        weights behind earlier scores would change). A fully trained one-shot supernet serves a new study
        whatever its scoring settings. Refuse too a BONAS-batch supernet of another study."""
        from bonas.training.supernet import SupernetCheckpointError

        extra = payload.get("extra", {})
        saved, ours = extra.get("training"), self._training_identity()
        epochs_done = int(extra.get("trainer", {}).get("epochs_done", 0))
        trains = self.batches is not None or epochs_done < self.trainer.settings.epochs
        if saved is not None and saved != ours and (scored or trains):
            differences = [
                f"{key}: checkpoint {saved['settings'].get(key)!r}, this objective {value!r}"
                for key, value in ours["settings"].items()
                if saved["settings"].get(key) != value
            ]
            if saved.get("batches") != ours["batches"]:
                differences.append(
                    f"batches: checkpoint {saved.get('batches')}, this objective {ours['batches']}"
                )
            why = (
                "the study's scores came from it with its own"
                if scored
                else "training it on would change the weights behind the scores it gave"
            )
            raise SupernetCheckpointError(
                f"Supernet checkpoint {str(path)!r} was saved with other settings ({'; '.join(differences)}): "
                f"{why}. Build the objective with the checkpoint's settings, or give it a checkpoint path of its "
                "own."
            )
        owner = extra.get("study")
        if self.batches is not None and owner is not None and self._study_name not in (None, owner):
            raise SupernetCheckpointError(
                f"Supernet checkpoint {str(path)!r} holds the BONAS-batch supernet of study {owner!r}, which each "
                f"batch trains further; study {self._study_name!r} would change the weights behind that study's "
                "scores. Give this study a checkpoint path of its own."
            )

    def _save(self) -> None:
        if self.checkpoint is not None:
            self.trainer.save(
                self.checkpoint,
                batch_scores=dict(self._batch_scores),
                data=self._data_identity(),
                training=self._training_identity(),
                study=self._study_name,
            )

    def train_supernet(self) -> None:
        """One-shot: train the supernet to its settings' epochs (from the checkpoint if there is one),
        saving the checkpoint after every epoch."""
        self._resume()
        trainer = self.trainer
        while trainer.epochs_done < trainer.settings.epochs:
            trainer.train(1)
            self._save()

    def score_batch(self, architectures: list[Architecture]) -> list[float]:
        """BONAS: train the supernet on ``architectures`` (see :class:`BatchTraining`) and score them all."""
        self._resume()
        batches = self.batches or BatchTraining()
        self.trainer.train_on(
            architectures, whole_epochs=batches.whole_epochs, path_epochs=batches.path_epochs
        )
        scores = self.trainer.score(architectures)
        self._batch_scores.update({str(a): s for a, s in zip(architectures, scores, strict=True)})
        self._save()
        return scores

    def __call__(self, architecture: Architecture) -> dict[str, float]:
        """The architecture's inherited-weight validation accuracy (percent) as ``val_accuracy``.

        Raises:
            ObjectiveSpaceError: the architecture is not one of the supernet's space.
            SupernetCheckpointError: the checkpoint was saved for another supernet or other settings, or
                the study holds scores of a supernet this one is not.
        """
        import time

        from bonas.trials import WEIGHT_SHARING, current_trial, record_fidelity

        record_fidelity(WEIGHT_SHARING)
        try:
            self.space.validate(architecture)
        except InvalidArchitectureError as error:  # the search's space is not the supernet's: all would fail
            raise ObjectiveSpaceError(
                f"The weight-sharing objective was built for space {self.space.name!r} and cannot score "
                f"{architecture}: {error} Build it with the searched space: weight_sharing(space, ...)."
            ) from None
        started = time.perf_counter()
        if self.batches is None:
            self.train_supernet()
            score = self.trainer.score([architecture])[0]
        else:
            self._resume()
            key = str(architecture)
            if key not in self._batch_scores:
                trial = current_trial()
                sampler = trial.study.sampler if trial is not None else None
                queued = [a for a in getattr(sampler, "queued", ()) if str(a) not in self._batch_scores]
                self.score_batch([architecture, *queued])
            score = self._batch_scores[key]
        self.scores[str(architecture)] = score
        return {
            "val_accuracy": score,
            "supernet_epochs": float(self.trainer.epochs_done),
            "supernet_train_seconds": self.trainer.train_seconds,
            "score_seconds": time.perf_counter() - started,
        }


def weight_sharing(
    space: SearchSpace,
    dataset: str | DatasetSplits = "digits",
    *,
    network: NetworkSettings | None = None,
    settings: SupernetSettings | None = None,
    batches: BatchTraining | None = None,
    checkpoint: str | Path | None = None,
    data_dir: str | Path | None = None,
    **dataset_options: Any,
) -> WeightSharingObjective:
    """An objective that scores architectures of ``space`` by their inherited-weight validation accuracy.

    One-shot (``batches=None``): the first call trains a supernet holding every architecture of the
    space (uniform single paths by default, SPOS; see :class:`~bonas.training.weight_sharing.SupernetSettings`),
    then each call recalibrates the batch norms of the architecture's path and measures validation
    accuracy: any searcher can use it, e.g. ``bonas.search(space, weight_sharing(space), sampler="nao")``.

    BONAS batches (``batches=BatchTraining(...)``): with a searcher that proposes batches
    (``search(..., batch_size=k)``), the first call of each batch trains the (persistent) supernet on
    the batch's ``k`` architectures and scores all of them; the other ``k - 1`` calls return their scores.

    Trials are marked ``fidelity=weight-sharing``; retrain the best stand-alone with
    :func:`bonas.retrain_best`.

    Args:
        space: the search space (one cell per architecture, built in NB201's skeleton).
        dataset: a dataset name or :class:`DatasetSplits` (as :func:`train`).
        network: ``C`` and ``N`` of the networks the supernet stands for.
        settings: the supernet's training recipe (batches default to a constant learning rate).
        batches: None for one-shot, else how each proposed batch is trained.
        checkpoint: a file for the supernet's weights, saved after every epoch (one-shot) or batch and
            recorded on the study (``supernet_checkpoint``), so a resumed search continues from it; None
            uses the study's recorded file if any, else keeps the supernet in memory.
        data_dir: where the dataset's files are.
        **dataset_options: ``seed``, ``val_size``, ``train_size``, ``test_size`` of the dataset loader.

    Returns:
        A callable ``objective(architecture) -> {"val_accuracy", "supernet_epochs",
        "supernet_train_seconds", "score_seconds"}``.

    Raises:
        OutsideSupernetError: the space's architectures are not one cell of registered operations.
    """
    from bonas.architecture import Architecture
    from bonas.spaces.base import SearchSpace
    from bonas.training.supernet import template_for_space

    if isinstance(space, Architecture):
        raise _searched_as_the_objective()
    if not isinstance(space, SearchSpace):
        raise TypeError(
            f"weight_sharing() needs the search space first, got {type(space).__name__}: {space!r}."
        )
    _check_dataset(dataset, dataset_options)
    template_for_space(space)  # fails now, naming the problem, rather than at the first trial
    return WeightSharingObjective(
        space=space,
        dataset=dataset,
        network=network,
        settings=settings,
        batches=batches,
        checkpoint=checkpoint,
        data_dir=data_dir,
        dataset_options=dataset_options,
    )
