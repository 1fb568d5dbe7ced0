"""Neural Architecture Optimization (Luo et al. 2018): an autoencoder of architectures with a predictor.

* :mod:`bonas.nao.tokens`: architectures of any space as token sequences, one token per parameter;
* :mod:`bonas.nao.model`: the LSTM encoder, MLP predictor and attention LSTM decoder (torch);
* :mod:`bonas.nao.controller`: training them jointly, predicting, reconstructing, and moving
  embeddings along the predictor's gradient to decode better architectures.

The searcher is :class:`bonas.samplers.nao.NAOSampler` (``make_sampler("nao", space)``).
"""

from __future__ import annotations

from bonas.nao.controller import ImprovedCandidate, NAOController, NAOSettings
from bonas.nao.model import EncoderPredictorDecoder
from bonas.nao.tokens import PAD, ArchitectureTokenizer
from bonas.torch_training import resolve_device

__all__ = [
    "PAD",
    "ArchitectureTokenizer",
    "EncoderPredictorDecoder",
    "ImprovedCandidate",
    "NAOController",
    "NAOSettings",
    "resolve_device",
]
