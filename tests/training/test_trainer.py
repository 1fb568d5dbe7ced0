"""The trainer: learns, is reproducible, reports epochs, and fails clearly on divergence and OOM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bonas.errors import UnknownNameError
from bonas.spaces import NB201Space, mlp_space
from bonas.training.datasets import DatasetSplits, load_dataset
from bonas.training.networks import NetworkSettings, build_network
from bonas.training.trainer import (
    DivergedError,
    Trainer,
    TrainingOutOfMemoryError,
    TrainingSettings,
    resolve_precision,
)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def digits() -> DatasetSplits:
    return load_dataset("digits")


def _mlp(data: DatasetSplits, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    arch = mlp_space().from_params({"n_layers": 1, "width_1": 64})
    return build_network(arch, input_shape=data.input_shape, num_classes=data.num_classes)


def _nb201(data: DatasetSplits) -> nn.Module:
    torch.manual_seed(0)
    arch = NB201Space().parse(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    )
    return build_network(
        arch,
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        settings=NetworkSettings(channels=8, cells_per_stage=1),
    )


@pytest.mark.slow
def test_nb201_network_learns_digits_on_cpu(digits: DatasetSplits) -> None:
    result = Trainer(TrainingSettings(epochs=3, batch_size=64, device="cpu")).fit(_nb201(digits), digits)
    assert len(result.val_accuracy) == 3 and len(result.train_loss) == 3
    assert result.val_accuracy[-1] > 80.0  # chance is 10%
    assert result.test_accuracy is not None and result.test_accuracy > 80.0
    assert result.train_loss[-1] < result.train_loss[0]
    assert result.device == "cpu" and result.precision == "fp32"
    assert result.images_per_second > 0 and result.total_seconds >= result.train_seconds > 0


def test_adamw_learns_an_mlp(digits: DatasetSplits) -> None:
    settings = TrainingSettings(epochs=5, batch_size=64, optimizer="adamw", lr=3e-3)
    result = Trainer(settings).fit(_mlp(digits), digits)
    assert result.val_accuracy[-1] > 85.0


def test_training_is_reproducible_on_cpu(digits: DatasetSplits) -> None:
    settings = TrainingSettings(epochs=2, batch_size=32, seed=7)
    first_model, second_model = _mlp(digits), _mlp(digits)
    first = Trainer(settings).fit(first_model, digits)
    second = Trainer(settings).fit(second_model, digits)
    assert first.val_accuracy == second.val_accuracy and first.train_loss == second.train_loss
    for a, b in zip(first_model.parameters(), second_model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = Trainer(TrainingSettings(epochs=2, batch_size=32, seed=8)).fit(_mlp(digits), digits)
    assert other.train_loss != first.train_loss  # the seed sets the batch order


def test_report_is_called_each_epoch_and_can_stop_training(digits: DatasetSplits) -> None:
    seen: list[tuple[int, float]] = []

    def report(epoch: int, accuracy: float) -> None:
        seen.append((epoch, accuracy))
        if epoch == 2:
            raise _StopError

    with pytest.raises(_StopError):
        Trainer(TrainingSettings(epochs=5, batch_size=64)).fit(_mlp(digits), digits, report=report)
    assert [epoch for epoch, _ in seen] == [1, 2]
    assert all(0.0 <= accuracy <= 100.0 for _, accuracy in seen)


class _StopError(Exception):
    pass


def test_nan_loss_raises_diverged(digits: DatasetSplits) -> None:
    with pytest.raises(DivergedError, match=r"diverged: the loss is nan at epoch 1.*Lower the learning rate"):
        Trainer(TrainingSettings(epochs=2, batch_size=64)).fit(_NaNNet(), digits)


def test_out_of_memory_is_a_clear_error(digits: DatasetSplits) -> None:
    with pytest.raises(
        TrainingOutOfMemoryError, match=r"Out of memory on cpu.*batch_size=64.*Lower the batch size"
    ):
        Trainer(TrainingSettings(epochs=1, batch_size=64)).fit(_OOMNet(), digits)


def test_settings_are_validated() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown optimizer 'sgd'.*sgd-cosine"):
        TrainingSettings(optimizer="sgd")
    with pytest.raises(UnknownNameError, match=r"Unknown precision 'fp8'"):
        TrainingSettings(precision="fp8")
    with pytest.raises(ValueError, match=r"epochs"):
        TrainingSettings(epochs=0)
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match=r"fp16.*CUDA"):
        resolve_precision("fp16", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"no CUDA device"):
            Trainer(TrainingSettings(device="cuda"))


def test_bf16_autocast_on_cpu(digits: DatasetSplits) -> None:
    result = Trainer(TrainingSettings(epochs=2, batch_size=64, precision="bf16")).fit(_mlp(digits), digits)
    assert result.precision == "bf16" and result.val_accuracy[-1] > 50.0


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_gpu_training_with_mixed_precision_and_channels_last(digits: DatasetSplits, precision: str) -> None:
    settings = TrainingSettings(epochs=3, batch_size=64, precision=precision, channels_last=True)
    trainer = Trainer(settings)
    result = trainer.fit(_nb201(digits), digits)
    assert result.device.startswith("cuda") and result.precision == precision
    assert result.val_accuracy[-1] > 80.0
    assert trainer._data["train_x"].is_cuda  # small data is kept on the device


@needs_cuda
def test_gpu_auto_precision_is_mixed(digits: DatasetSplits) -> None:
    trainer = Trainer(TrainingSettings(epochs=1))
    assert trainer.device.type == "cuda" and trainer.precision in ("bf16", "fp16")


class _NaNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)) * float("nan")


class _OOMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
