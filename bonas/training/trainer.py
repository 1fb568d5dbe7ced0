"""Training a network on :class:`~bonas.training.datasets.DatasetSplits`, on the GPU when there is one.

On CUDA the trainer uses mixed precision (bf16 where supported, else fp16 with loss scaling),
channels-last memory format, keeps the whole dataset on the device when it fits, and can compile the
model; on the CPU it trains in fp32. Validation accuracy is reported after every epoch through a
callback (the objective forwards it to the Optuna trial, whose pruner may stop the run).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bonas.errors import BonasError, unknown_name
from bonas.torch_training import resolve_device
from bonas.training.datasets import DatasetSplits

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd-cosine", "adamw")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

#: ``report(epoch, val_accuracy)`` after each epoch (1-based); it may raise to stop training.
ReportCallback = Callable[[int, float], None]

#: Share of the free GPU memory the dataset may take to be kept on the device.
DEVICE_DATA_FRACTION = 0.25


class DivergedError(BonasError, ArithmeticError):
    """Training produced a non-finite loss."""


class TrainingOutOfMemoryError(BonasError, MemoryError):
    """The device ran out of memory while training a candidate."""


@dataclass(frozen=True)
class TrainingSettings:
    """How to train a candidate.

    Args:
        epochs: passes over the training split (the fidelity of a multi-fidelity search).
        batch_size: training batch size (evaluation uses twice that).
        optimizer: ``"sgd-cosine"`` (SGD with Nesterov momentum 0.9 and a cosine schedule to 0, NB201's
            recipe) or ``"adamw"`` (AdamW with the same cosine schedule).
        lr: learning rate; default 0.1 for SGD, 1e-3 for AdamW.
        weight_decay: weight decay; default 5e-4 for SGD, 1e-2 for AdamW.
        precision: ``"auto"`` (bf16 on a GPU that supports it, else fp16 on GPU, fp32 on CPU),
            ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
        channels_last: channels-last memory format for 4-d inputs; None means on for CUDA only.
        compile: ``torch.compile`` the model (pays a compile time per candidate).
        device: ``"auto"`` (CUDA when available, else CPU) or a torch device string.
        seed: seed of the weights (when the trainer builds nothing itself, seed before building) and of
            the batch order.
        grad_clip: clip the gradient norm to this (NB201 clips at 5); None for no clipping.
        label_smoothing: label smoothing of the cross-entropy loss.
    """

    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "sgd-cosine"
    lr: float | None = None
    weight_decay: float | None = None
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    grad_clip: float | None = 5.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        if self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be at least 1, got {self.epochs=}, {self.batch_size=}."
            )
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}.")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.1 if self.optimizer == "sgd-cosine" else 1e-3

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 5e-4 if self.optimizer == "sgd-cosine" else 1e-2


@dataclass
class TrainingResult:
    """What one training run measured.

    Args:
        val_accuracy: validation accuracy in percent after each epoch run.
        train_loss: mean training loss of each epoch run.
        test_accuracy: test accuracy in percent of the final model (None if not evaluated).
        train_seconds: seconds spent in training steps (evaluation excluded).
        epoch_seconds: training seconds of each epoch (the first includes warm-up and compilation).
        total_seconds: seconds of the whole run, evaluation and data transfer included.
        images_per_second: training images processed per training second.
        device: the device used, e.g. ``"cuda:0"`` or ``"cpu"``.
        precision: the precision used (``fp32``, ``bf16``, ``fp16``).
    """

    val_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_accuracy: float | None = None
    train_seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    total_seconds: float = 0.0
    images_per_second: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"

    @property
    def final_val_accuracy(self) -> float:
        return self.val_accuracy[-1] if self.val_accuracy else math.nan


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision to train in: ``auto`` picks bf16 or fp16 on CUDA and fp32 elsewhere."""
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            "precision='fp16' needs a CUDA device (loss scaling); use 'bf16' or 'fp32' on the CPU."
        )
    return precision


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Trainer:
    """Trains and evaluates models with one :class:`TrainingSettings`.

    Args:
        settings: the training recipe and hardware options.
    """

    def __init__(self, settings: TrainingSettings | None = None) -> None:
        self.settings = settings or TrainingSettings()
        self.device = resolve_device(self.settings.device)
        self.precision = resolve_precision(self.settings.precision, self.device)
        self._data_source: DatasetSplits | None = None
        self._data: dict[str, torch.Tensor] = {}

    def fit(
        self,
        model: nn.Module,
        data: DatasetSplits,
        *,
        report: ReportCallback | None = None,
        evaluate_test: bool = True,
    ) -> TrainingResult:
        """Train ``model`` on ``data.train_*``, report validation accuracy each epoch, test at the end.

        Args:
            model: a network mapping ``B x *data.input_shape`` to ``B x data.num_classes`` logits.
            data: the dataset splits.
            report: called as ``report(epoch, val_accuracy)`` after each epoch; an exception it raises
                (such as ``optuna.TrialPruned``) stops training and propagates.
            evaluate_test: also measure test accuracy after the last epoch.

        Returns:
            A :class:`TrainingResult`.

        Raises:
            DivergedError: the training loss became NaN or infinite.
            TrainingOutOfMemoryError: the device ran out of memory.
        """
        try:
            return self._fit(model, data, report, evaluate_test)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not isinstance(error, torch.OutOfMemoryError) and "can't allocate memory" not in str(error):
                raise
            self._data, self._data_source = {}, None
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingOutOfMemoryError(
                f"Out of memory on {self.device} training with batch_size={self.settings.batch_size} "
                f"({self.precision}): {str(error).splitlines()[0]} Lower the batch size or the network size."
            ) from None

    def _fit(
        self, model: nn.Module, data: DatasetSplits, report: ReportCallback | None, evaluate_test: bool
    ) -> TrainingResult:
        settings = self.settings
        started = time.perf_counter()
        images = len(data.train_y)
        if images == 0:
            raise ValueError(f"The training split of {data.name} is empty.")
        channels_last = (
            settings.channels_last if settings.channels_last is not None else self.device.type == "cuda"
        )
        channels_last = channels_last and data.train_x.dim() == 4
        model = model.to(self.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        step_model: nn.Module = torch.compile(model) if settings.compile else model  # type: ignore[assignment]
        tensors = self._tensors(data)
        optimizer = self._optimizer(model)
        steps_per_epoch = math.ceil(images / settings.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=settings.epochs * steps_per_epoch
        )
        scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
        generator = torch.Generator(device="cpu").manual_seed(settings.seed)
        result = TrainingResult(device=str(self.device), precision=self.precision)
        for epoch in range(1, settings.epochs + 1):
            model.train()
            epoch_started = time.perf_counter()
            loss_sum = torch.zeros((), device=self.device)
            # The batch order lives where the data lives, so indexing never crosses devices.
            order = torch.randperm(images, generator=generator).to(tensors["train_x"].device)
            for step in range(steps_per_epoch):
                index = order[step * settings.batch_size : (step + 1) * settings.batch_size]
                x, y = self._batch(tensors["train_x"], tensors["train_y"], index, channels_last)
                with self._autocast():
                    loss = loss_fn(step_model(x), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if settings.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                loss_sum += loss.detach().float() * len(y)
                # Checking every step would synchronise the GPU each time; every 25 steps is enough.
                if (step + 1) % 25 == 0 or step + 1 == steps_per_epoch:
                    self._check_finite(loss_sum, epoch, step + 1)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            result.epoch_seconds.append(time.perf_counter() - epoch_started)
            result.train_seconds += result.epoch_seconds[-1]
            result.train_loss.append(float(loss_sum) / images)
            accuracy = self.accuracy(step_model, tensors["val_x"], tensors["val_y"], channels_last)
            result.val_accuracy.append(accuracy)
            logger.debug("epoch %d: loss %.4f, val accuracy %.2f", epoch, result.train_loss[-1], accuracy)
            if report is not None:
                report(epoch, accuracy)
        if evaluate_test:
            result.test_accuracy = self.accuracy(
                step_model, tensors["test_x"], tensors["test_y"], channels_last
            )
        result.images_per_second = settings.epochs * images / max(result.train_seconds, 1e-9)
        result.total_seconds = time.perf_counter() - started
        return result

    def _check_finite(self, loss_sum: torch.Tensor, epoch: int, step: int) -> None:
        if not torch.isfinite(loss_sum):
            raise DivergedError(
                f"Training diverged: the loss is {float(loss_sum)} at epoch {epoch}, step {step} "
                f"(lr={self.settings.learning_rate}, {self.precision}). Lower the learning rate or use fp32."
            )

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        settings = self.settings
        if settings.optimizer == "sgd-cosine":
            return torch.optim.SGD(
                model.parameters(),
                lr=settings.learning_rate,
                momentum=0.9,
                nesterov=True,
                weight_decay=settings.decay,
            )
        return torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.decay)

    def _autocast(self) -> torch.autocast:
        dtype = _DTYPES[self.precision]
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.precision != "fp32")

    def _tensors(self, data: DatasetSplits) -> dict[str, torch.Tensor]:
        """The six tensors, on the device when they fit (cached across candidates of one dataset)."""
        if self._data_source is data:
            return self._data
        names = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
        on_device = self.device.type == "cpu"
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            on_device = data.nbytes < DEVICE_DATA_FRACTION * free
            logger.info(
                "Keeping %s (%.0f MB) %s.",
                data.name,
                data.nbytes / 2**20,
                "on the GPU" if on_device else "in CPU memory",
            )
        tensors = {}
        for name in names:
            tensor = getattr(data, name)
            tensors[name] = tensor.to(self.device) if on_device else tensor
        self._data_source, self._data = data, tensors
        return tensors

    def _batch(
        self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, channels_last: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.device != self.device:
            # Data too large for the GPU: gather the batch into pinned memory, copy it asynchronously.
            xb = x[index].pin_memory().to(self.device, non_blocking=True)
            yb = y[index].pin_memory().to(self.device, non_blocking=True)
        else:
            xb, yb = x[index], y[index]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, yb

    @torch.no_grad()
    def accuracy(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, channels_last: bool = False
    ) -> float:
        """Accuracy in percent of ``model`` on ``x`` (``n x ...``) against labels ``y`` (``n``)."""
        if len(y) == 0:
            return math.nan
        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        batch = 2 * self.settings.batch_size
        for start in range(0, len(y), batch):
            index = torch.arange(start, min(start + batch, len(y)), device=x.device)
            xb, yb = self._batch(x, y, index, channels_last)
            with self._autocast():
                logits = model(xb)
            correct += (logits.argmax(dim=1) == yb).sum()
        return 100.0 * float(correct) / len(y)
