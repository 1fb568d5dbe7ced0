"""The NAO controller: fits the encoder-predictor-decoder on evaluated architectures and improves them.

:class:`NAOController` owns a tokenizer and an :class:`~bonas.nao.model.EncoderPredictorDecoder`:

* :meth:`NAOController.fit` trains it on architectures and values with NAO's joint loss
  ``trade_off * MSE(prediction) + (1 - trade_off) * cross-entropy(reconstruction)``, warm-starting from
  the previous weights when asked;
* :meth:`NAOController.predict` and :meth:`NAOController.reconstruct` use the encoder with the
  predictor and the decoder;
* :meth:`NAOController.improve` moves the embeddings of given architectures along the predictor's
  gradient by each of several step sizes and decodes them (NAO's architecture optimization).

Decoding is constrained to each position's legal tokens, so a decoded sequence always sets exactly the
active parameters; a combination the space's own constraint rejects is repaired to the most likely
valid sequence one token away (by the decoder's probabilities) or dropped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bonas.architecture import Architecture
from bonas.errors import NotFittedError
from bonas.nao.model import EncoderPredictorDecoder
from bonas.nao.tokens import PAD, ArchitectureTokenizer
from bonas.spaces.base import SearchSpace
from bonas.torch_training import (
    Standardisation,
    check_counts,
    check_finite,
    resolve_device,
    seeded,
    seeded_generator,
    train_epochs,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NAOSettings:
    """Size and training of the encoder-predictor-decoder.

    Args:
        embedding_size: size of the token embeddings.
        hidden_size: LSTM state size (size of each embedding vector).
        predictor_hidden_size: width of the predictor's two hidden layers.
        trade_off: NAO's lambda, the weight of the prediction loss; the reconstruction loss gets
            ``1 - trade_off``.
        learning_rate: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        batch_size: architectures per gradient step.
        epochs: passes over the data when training from scratch.
        warm_epochs: passes over the data when fine-tuning the previous weights.
        grad_clip: largest gradient norm per step.
    """

    embedding_size: int = 32
    hidden_size: int = 64
    predictor_hidden_size: int = 64
    trade_off: float = 0.8
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    epochs: int = 150
    warm_epochs: int = 20
    grad_clip: float = 5.0

    def __post_init__(self) -> None:
        for name in ("embedding_size", "hidden_size", "predictor_hidden_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"NAOSettings.{name} must be at least 1, got {getattr(self, name)}.")
        if not 0.0 <= self.trade_off <= 1.0:
            raise ValueError(f"NAOSettings.trade_off must lie in [0, 1], got {self.trade_off}.")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            raise ValueError(
                "Need learning_rate > 0, weight_decay >= 0 and grad_clip > 0, got "
                f"({self.learning_rate=}, {self.weight_decay=}, {self.grad_clip=})."
            )
        if self.epochs < 1 or self.warm_epochs < 0:
            raise ValueError(
                f"Need epochs >= 1 and warm_epochs >= 0, got ({self.epochs=}, {self.warm_epochs=})."
            )


@dataclass(frozen=True)
class ImprovedCandidate:
    """One decoded embedding of :meth:`NAOController.improve`.

    Args:
        start: index of the starting architecture in the ``starts`` given.
        step_size: how far its embedding moved along the (unit) gradient, in units of ``sqrt(L)``.
        architecture: the decoded architecture, or None if no valid one was found near the decode.
        repaired: whether the decode violated the space's constraint and was repaired.
        predicted: the predictor's value of ``architecture`` (re-encoded), in the fitted values' units;
            NaN when ``architecture`` is None.
    """

    start: int
    step_size: float
    architecture: Architecture | None
    repaired: bool
    predicted: float


class NAOController:
    """Encoder, predictor and decoder of one search space, trained on evaluated architectures.

    Args:
        space: the search space.
        settings: network size and training.
        device: ``"auto"`` (CUDA when available, else CPU) or a torch device.
        seed: seed of the initial weights and of the minibatch order.
    """

    def __init__(
        self,
        space: SearchSpace,
        settings: NAOSettings | None = None,
        *,
        device: str | torch.device | None = "auto",
        seed: int = 0,
    ) -> None:
        self.space = space
        self.settings = settings or NAOSettings()
        self.device = resolve_device(device)
        self.tokenizer = ArchitectureTokenizer(space)
        self.seed = seed
        self.model: EncoderPredictorDecoder | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._generator = seeded_generator(seed)
        self._standardisation = Standardisation(0.0, 1.0)

    # -- training -----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh weights (seeded by :attr:`seed`) and optimizer state."""
        # The weights are drawn on the CPU and moved after, so only the CPU generator is restored
        # (torch.manual_seed seeds the CUDA ones too, and those stay seeded).
        with seeded(self.seed):
            s = self.settings
            model = EncoderPredictorDecoder(
                self.tokenizer.vocab_size,
                self.tokenizer.length,
                embedding_size=s.embedding_size,
                hidden_size=s.hidden_size,
                predictor_hidden_size=s.predictor_hidden_size,
                static_mask=self.tokenizer.static_mask,
            )
        self.model = model.to(self.device)
        self._optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.settings.learning_rate, weight_decay=self.settings.weight_decay
        )
        self._generator = seeded_generator(self.seed)

    def fit(
        self,
        architectures: Sequence[Architecture],
        values: Sequence[float],
        *,
        unlabeled: Sequence[Architecture] = (),
        warm_start: bool = False,
    ) -> list[float]:
        """Train on ``architectures`` with ``values`` (larger is better); returns the loss per epoch.

        Args:
            architectures: evaluated architectures of the space.
            values: their values (standardised internally; :meth:`predict` answers in these units).
            unlabeled: architectures without values, used by the reconstruction loss only (random
                architectures of the space keep the decoder from collapsing onto the evaluated ones).
            warm_start: fine-tune the current weights for ``settings.warm_epochs`` epochs instead of
                training fresh ones for ``settings.epochs``.

        Raises:
            ValueError: lengths differ, nothing to fit, or a value is not finite.
        """
        check_counts(len(architectures), len(values), model="NAO")
        y = np.asarray(values, dtype=float)
        check_finite(y, model="NAO")
        # NAO's own convention: numpy's population std, and only an exactly zero one counts as constant.
        self._standardisation = Standardisation.of(y, correction=0, constant_tolerance=None)
        tokens = self.tokenizer.encode([*architectures, *unlabeled]).to(self.device)
        standardised = np.concatenate([self._standardisation.forward(y), np.full(len(unlabeled), np.nan)])
        targets = torch.as_tensor(standardised, dtype=torch.float32, device=self.device)
        epochs = self.settings.warm_epochs
        if not warm_start or self.model is None:
            self.reset()
            epochs = self.settings.epochs
        return self._train(tokens, targets, epochs)

    def _train(self, tokens: torch.Tensor, targets: torch.Tensor, epochs: int) -> list[float]:
        """Minibatch Adam on the joint loss; ``targets`` is NaN for unlabeled rows.

        The optimiser and the minibatch generator carry over from the previous fit (until :meth:`reset`),
        so a warm start continues both.
        """
        model, optimizer = self.model, self._optimizer
        assert model is not None and optimizer is not None  # set by reset()
        s = self.settings

        def batch_loss(batch: torch.Tensor) -> torch.Tensor:
            embedding = model.encode(tokens[batch])
            labeled = ~torch.isnan(targets[batch])
            errors = model.predict(embedding)[labeled] - targets[batch][labeled]
            prediction_loss = (errors**2).sum() / max(int(labeled.sum()), 1)
            log_probs = model.reconstruction_log_probs(embedding, tokens[batch])
            reconstruction_loss = -log_probs.gather(-1, tokens[batch].unsqueeze(-1)).mean()
            return s.trade_off * prediction_loss + (1 - s.trade_off) * reconstruction_loss

        losses = train_epochs(
            model,
            optimizer,
            batch_loss,
            n=tokens.shape[0],
            epochs=epochs,
            batch_size=s.batch_size,
            generator=self._generator,
            device=self.device,
            grad_clip=s.grad_clip,
            record_losses=True,
        )
        model.eval()
        return losses

    # -- inference ----------------------------------------------------------------------------------

    def _fitted(self) -> EncoderPredictorDecoder:
        if self.model is None:
            raise NotFittedError(
                "The NAO controller is not fitted yet; call fit(architectures, values) first."
            )
        return self.model

    def embed(self, architectures: Sequence[Architecture]) -> torch.Tensor:
        """``n x L x H`` embeddings of ``architectures``."""
        model = self._fitted()
        with torch.no_grad():
            return model.encode(self.tokenizer.encode(architectures).to(self.device))

    def predict(self, architectures: Sequence[Architecture]) -> torch.Tensor:
        """``n`` predicted values (CPU float64, in the fitted values' units)."""
        if len(architectures) == 0:
            return torch.zeros(0, dtype=torch.float64)
        return self._predict_embedding(self.embed(architectures))

    def _predict_embedding(self, embedding: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            standardised = self._fitted().predict(embedding).double().cpu()
        return self._standardisation.inverse(standardised)

    def reconstruct(self, architectures: Sequence[Architecture]) -> list[Architecture | None]:
        """``decode(encode(a))`` for each of ``architectures`` (None where no valid decode was found)."""
        if len(architectures) == 0:
            return []
        return [a for a, _ in self.decode(self.embed(architectures))]

    def decode(self, embedding: torch.Tensor) -> list[tuple[Architecture | None, bool]]:
        """Greedy masked decodes of an ``n x L x H`` embedding: ``(architecture or None, repaired)`` each."""
        tokens, log_probs = self._fitted().greedy_decode(embedding, self.tokenizer.step_mask)
        return [
            self._valid_or_repaired(row, table)
            for row, table in zip(tokens.cpu().tolist(), log_probs.cpu(), strict=True)
        ]

    def _valid_or_repaired(
        self, tokens: list[int], log_probs: torch.Tensor
    ) -> tuple[Architecture | None, bool]:
        """The architecture of ``tokens``, else the most likely valid one a single token away.

        Edits that change which parameters are active are not tried (``is_valid`` rejects them); spaces
        where every combination of active choices is valid never get here.
        """
        architecture = self.tokenizer.decode(tokens)
        if architecture is not None:
            return architecture, False
        edits = []
        legal = self.tokenizer.static_mask
        for position, token in enumerate(tokens):
            if token == PAD:
                continue
            for other in torch.nonzero(legal[position]).flatten().tolist():
                if other not in (token, PAD):
                    cost = float(log_probs[position, token] - log_probs[position, other])
                    edits.append((cost, position, other))
        for _, position, other in sorted(edits):
            edited = list(tokens)
            edited[position] = other
            architecture = self.tokenizer.decode(edited)
            if architecture is not None:
                return architecture, True
        return None, False

    # -- architecture optimization ------------------------------------------------------------------

    def ascend(self, embedding: torch.Tensor, step_sizes: Sequence[float]) -> torch.Tensor:
        """``k x S x L x H``: each of ``k`` embeddings moved along its predictor gradient by ``S`` steps.

        The gradient of the predicted value with respect to each ``L x H`` embedding is normalised to unit
        Frobenius norm and step sizes are in units of ``sqrt(L)`` (the norm of an embedding, whose ``L``
        vectors have unit norm), so the same step sizes suit every space.
        """
        model = self._fitted()
        embedding = embedding.detach().requires_grad_(True)
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(model.predict(embedding).sum(), embedding)
        direction = gradient / gradient.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
        steps = torch.as_tensor(list(step_sizes), dtype=embedding.dtype, device=embedding.device)
        steps = steps * math.sqrt(self.tokenizer.length)
        return embedding.detach()[:, None] + steps[None, :, None, None] * direction[:, None]

    def improve(self, starts: Sequence[Architecture], step_sizes: Sequence[float]) -> list[ImprovedCandidate]:
        """Move each start's embedding along the predictor's gradient by each step size (:meth:`ascend`)
        and decode it.

        Returns:
            ``len(starts) * len(step_sizes)`` candidates, start by start, step sizes in the given order.
        """
        if not starts or not step_sizes:
            return []
        moved = self.ascend(self.embed(starts), step_sizes)
        decoded = self.decode(moved.reshape(-1, *moved.shape[2:]))
        found = [a for a, _ in decoded if a is not None]
        predicted = iter(self.predict(found).tolist())
        return [
            ImprovedCandidate(
                start=index // len(step_sizes),
                step_size=float(step_sizes[index % len(step_sizes)]),
                architecture=architecture,
                repaired=repaired,
                predicted=next(predicted) if architecture is not None else math.nan,
            )
            for index, (architecture, repaired) in enumerate(decoded)
        ]
