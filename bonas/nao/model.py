"""NAO's network: an LSTM encoder, a performance predictor and an attention LSTM decoder.

Luo et al. 2018, "Neural Architecture Optimization": the encoder maps an architecture's token sequence to
a continuous embedding (one unit-norm vector per token), the predictor maps the mean of that embedding to
the architecture's value, and the decoder maps an embedding back to a token sequence, attending over its
vectors. The three are trained jointly (:mod:`bonas.nao.controller`), so moving an embedding along the
predictor's gradient and decoding it gives an architecture the predictor expects to be better.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
from torch import nn

#: ``mask(position, prefix) -> n x V`` bool tensor of the legal tokens at ``position`` given the ``n x
#: position`` tokens decoded before it.
StepMask = Callable[[int, torch.Tensor], torch.Tensor]


class EncoderPredictorDecoder(nn.Module):
    """Encoder, predictor and decoder over ``L``-token sequences of a ``V``-token vocabulary.

    Args:
        vocab_size: ``V``, number of tokens (padding included).
        length: ``L``, tokens per sequence.
        embedding_size: size of the token embeddings of encoder and decoder.
        hidden_size: ``H``, LSTM state size, hence the size of each embedding vector.
        predictor_hidden_size: width of the predictor's hidden layer.
        static_mask: ``L x V`` bool tensor of the tokens that may appear at each position; the
            reconstruction loss and decoding only ever consider these.
    """

    def __init__(
        self,
        vocab_size: int,
        length: int,
        *,
        embedding_size: int,
        hidden_size: int,
        predictor_hidden_size: int,
        static_mask: torch.Tensor,
    ) -> None:
        super().__init__()
        if static_mask.shape != (length, vocab_size):
            raise ValueError(
                f"static_mask must be L x V = {length} x {vocab_size}, got {tuple(static_mask.shape)}."
            )
        self.vocab_size = vocab_size
        self.length = length
        self.hidden_size = hidden_size
        self.encoder_embedding = nn.Embedding(vocab_size, embedding_size)
        self.encoder = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.encoder_skip = nn.Linear(embedding_size, hidden_size, bias=False)
        self.predictor = nn.Sequential(
            nn.Linear(hidden_size, predictor_hidden_size),
            nn.ReLU(),
            nn.Linear(predictor_hidden_size, predictor_hidden_size),
            nn.ReLU(),
            nn.Linear(predictor_hidden_size, 1),
        )
        # One extra decoder input token: the start of the sequence (id V).
        self.decoder_embedding = nn.Embedding(vocab_size + 1, embedding_size)
        self.decoder = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.attention_out = nn.Linear(2 * hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, vocab_size)
        self.register_buffer("static_mask", static_mask.clone())

    # -- encoder and predictor ----------------------------------------------------------------------

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``n x L x H`` embedding of ``n x L`` token ids: the encoder's outputs, each of unit norm."""
        embedded = self.encoder_embedding(tokens)
        outputs, _ = self.encoder(embedded)
        return F.normalize(outputs + self.encoder_skip(embedded), dim=-1)

    def predict(self, embedding: torch.Tensor) -> torch.Tensor:
        """``n`` predicted values (in training units) of an ``n x L x H`` embedding."""
        return self.predictor(embedding.mean(dim=1)).squeeze(-1)

    # -- decoder ------------------------------------------------------------------------------------

    def _initial_state(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = embedding.mean(dim=1).unsqueeze(0).contiguous()  # 1 x n x H
        return pooled, pooled

    def _output_logits(self, decoded: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """``n x T x V`` logits of ``n x T x H`` decoder outputs attending over an ``n x L x H`` embedding."""
        weights = torch.softmax(decoded @ embedding.transpose(1, 2), dim=-1)  # n x T x L
        context = weights @ embedding  # n x T x H
        return self.classifier(torch.tanh(self.attention_out(torch.cat([decoded, context], dim=-1))))

    def reconstruction_log_probs(self, embedding: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``n x L x V`` log-probabilities of each token given the true earlier ones (teacher forcing).

        Tokens illegal at a position (:attr:`static_mask`) get ``-inf``.
        """
        start = torch.full_like(tokens[:, :1], self.vocab_size)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)
        decoded, _ = self.decoder(self.decoder_embedding(inputs), self._initial_state(embedding))
        logits = self._output_logits(decoded, embedding).masked_fill(~self.static_mask, float("-inf"))
        return torch.log_softmax(logits, dim=-1)

    @torch.no_grad()
    def greedy_decode(self, embedding: torch.Tensor, mask: StepMask) -> tuple[torch.Tensor, torch.Tensor]:
        """The most likely legal token at each step, fed back as the next input.

        Args:
            embedding: ``n x L x H`` embeddings (encoded, or moved along the predictor's gradient).
            mask: the legal tokens at each step given the tokens decoded so far.

        Returns:
            ``n x L`` decoded token ids and the ``n x L x V`` log-probabilities they were chosen from
            (``-inf`` at illegal tokens).
        """
        n = embedding.shape[0]
        state = self._initial_state(embedding)
        previous = torch.full((n, 1), self.vocab_size, dtype=torch.long, device=embedding.device)
        tokens = torch.empty((n, self.length), dtype=torch.long, device=embedding.device)
        log_probs = torch.empty((n, self.length, self.vocab_size), device=embedding.device)
        for position in range(self.length):
            decoded, state = self.decoder(self.decoder_embedding(previous), state)
            logits = self._output_logits(decoded, embedding)[:, 0]
            legal = mask(position, tokens[:, :position]).to(embedding.device)
            step = torch.log_softmax(logits.masked_fill(~legal, float("-inf")), dim=-1)
            log_probs[:, position] = step
            tokens[:, position] = step.argmax(dim=-1)
            previous = tokens[:, position : position + 1]
        return tokens, log_probs
