"""``python -m benchmarks.throughput``: training images/s of NB201's network, bonas's trainer vs plain PyTorch.

The network is NB201's published one (``C=16, N=5``) with NB201's best CIFAR-10 cell, on synthetic
``3 x 32 x 32`` images and 10 classes. On every device found (the CPU always, CUDA when present) it
times

* ``bonas``: :class:`bonas.training.Trainer` with its defaults for that device (on CUDA: bf16 or fp16
  autocast, channels-last, data kept on the device; optionally ``--compile``);
* ``plain-fp32``: the textbook eager loop in fp32 (data already on the device, SGD, no autocast, no
  channels-last), written out below.

Both run ``--epochs`` passes over the same images at the same batch size; the first pass is warm-up and
excluded, images/s is the median over the other passes. Results go to ``results/throughput/summary.csv``
(device model, batch size, images/s of both loops and their ratio) and ``summary.md``.

Examples::

    python -m benchmarks.throughput                 # CPU (and GPU if present)
    python -m benchmarks.throughput --quick         # fewer images
    python -m benchmarks.throughput --gpu-batch-size 512 --compile
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from bonas.spaces import NB201Space
from bonas.training import NetworkSettings, Trainer, TrainingSettings, build_network
from bonas.training.datasets import DatasetSplits

#: NB201's best cell on CIFAR-10 (validation).
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cpu-images", type=int, default=256, help="images per pass on the CPU")
    parser.add_argument("--gpu-images", type=int, default=25_600, help="images per pass on the GPU")
    parser.add_argument("--cpu-batch-size", type=int, default=64)
    parser.add_argument("--gpu-batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2, help="passes; the first is warm-up")
    parser.add_argument("--compile", action="store_true", help="also torch.compile in bonas's trainer")
    parser.add_argument("--cpu-only", action="store_true", help="skip the GPU even if there is one")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")
    parser.add_argument("--out", type=Path, default=Path("results/throughput"))
    parser.add_argument("--quick", action="store_true", help="fewer images (64 in batches of 32 on the CPU)")
    return parser.parse_args(argv)


def synthetic(images: int, seed: int = 0) -> DatasetSplits:
    """Random ``3 x 32 x 32`` images with random labels (throughput does not depend on content)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(images, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (images,), generator=generator)
    small_x, small_y = x[:8], y[:8]
    return DatasetSplits("synthetic", x, y, small_x, small_y, small_x, small_y, num_classes=10)


def network() -> nn.Module:
    torch.manual_seed(0)
    arch = NB201Space().parse(CELL)
    return build_network(arch, input_shape=(3, 32, 32), num_classes=10, settings=NetworkSettings(16, 5))


def bonas_loop(
    data: DatasetSplits, device: str, batch_size: int, epochs: int, compile: bool
) -> tuple[float, str]:
    settings = TrainingSettings(epochs=epochs, batch_size=batch_size, device=device, compile=compile)
    result = Trainer(settings).fit(network(), data, evaluate_test=False)
    timed = result.epoch_seconds[1:] or result.epoch_seconds
    return len(data.train_y) / statistics.median(timed), result.precision


def plain_loop(data: DatasetSplits, device: str, batch_size: int, epochs: int) -> float:
    """The textbook fp32 eager loop: SGD, cross-entropy, data already on the device."""
    target = torch.device(device)
    model = network().to(target)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data.train_x.to(target), data.train_y.to(target)
    generator = torch.Generator().manual_seed(0)
    seconds = []
    for _ in range(epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(y), generator=generator).to(target)
        for start in range(0, len(y), batch_size):
            index = order[start : start + batch_size]
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        seconds.append(time.perf_counter() - started)
    timed = seconds[1:] or seconds
    return len(y) / statistics.median(timed)


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    epochs = 2 if args.quick else args.epochs
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [("cpu", 64 if args.quick else args.cpu_images, 32 if args.quick else args.cpu_batch_size)]
    if torch.cuda.is_available() and not args.cpu_only:
        runs.append(("cuda", args.gpu_images // (4 if args.quick else 1), args.gpu_batch_size))
    else:
        print("No CUDA device: measuring the CPU only.")
    rows = []
    for device, images, batch_size in runs:
        data = synthetic(images)
        plain = plain_loop(data, device, batch_size, epochs)
        fast, precision = bonas_loop(data, device, batch_size, epochs, args.compile)
        row = {
            "device": device,
            "device_model": device_name(device),
            "network": "nb201 C=16 N=5",
            "batch_size": batch_size,
            "images_per_pass": images,
            "timed_passes": max(epochs - 1, 1),
            "bonas_precision": precision,
            "bonas_channels_last": device.startswith("cuda"),
            "bonas_compile": args.compile,
            "bonas_images_per_s": round(fast, 1),
            "plain_fp32_images_per_s": round(plain, 1),
            "speedup": round(fast / plain, 3),
            "torch": torch.__version__,
        }
        rows.append(row)
        print(
            f"{device} ({row['device_model']}), batch {batch_size}: bonas {fast:,.1f} img/s ({precision}), "
            f"plain fp32 {plain:,.1f} img/s, x{fast / plain:.2f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out / "summary.csv", index=False)
    columns = [
        "device",
        "device_model",
        "batch_size",
        "bonas_precision",
        "bonas_images_per_s",
        "plain_fp32_images_per_s",
        "speedup",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    (args.out / "summary.md").write_text(
        "# Training throughput, NB201 network (C=16, N=5), 3x32x32 synthetic images\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print(f"Wrote {args.out / 'summary.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
