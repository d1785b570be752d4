"""Intrinsic reward models: distil labels of messages into a score per message (ONI and Motif).

- `RetrievalModel` (ONI-retrieval): the label table itself, 1 for a message labelled helpful, else 0.
- `ClassificationModel` (ONI-classification): hashed character n-grams -> a one-hidden-layer MLP trained with
  BCE on the helpful labels; 1 when P(helpful) > 0.5, so it also scores messages no one has labelled yet.
- `RankingModel` (Motif): the same network as a scalar score r(text) trained on pair preferences with the
  Bradley-Terry loss, z-scored over the distinct messages seen so far, values below a quantile set to 0.

All share one protocol (`IntrinsicModel`): what to ask the labeller for each new message, a refresh from all
labels so far, and a score. Training runs on sorted data from a fixed seed, warm-started between refreshes: the
model is a deterministic function of the sequence of label sets, and it never disturbs torch's global RNG (PPO's).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from autoreward.intrinsic.features import HashedNgrams, NgramConfig
from autoreward.intrinsic.labels import HELPFUL, PAIRS, Item


@runtime_checkable
class IntrinsicModel(Protocol):
    """What the intrinsic reward wrapper needs of a model."""

    task: str  # the labelling task it learns from: "helpful" or "pairs"

    def items_for(self, new_messages: Sequence[str], seen_messages: Sequence[str], rng: random.Random) -> list[Item]:
        """Items to label for messages seen for the first time (`seen_messages`: distinct earlier ones)."""
        ...

    def update(self, labels: Mapping[Item, Any]) -> bool:
        """Refresh from all labels so far; whether scores may have changed (cached scores are then stale)."""
        ...

    def score(self, message: str) -> float:
        """The message's intrinsic value before count decay (0 when unknown or untrained)."""
        ...

    def score_many(self, messages: Sequence[str]) -> list[float]:
        """`score` of each message, in one batch (what a refresh re-scores the messages seen so far with)."""
        ...


@dataclass(frozen=True)
class TextNetConfig:
    """The scoring network and how it is (re)trained: n-gram buckets -> hidden ReLU layer -> one output.

    Each refresh runs at most `steps` Adam steps on minibatches of at most `batch_size` examples (all of them
    when fewer), and stops once the loss is within `tolerance` of its floor: a refresh costs a bounded time
    however many labels there are. The first network starts from `seed`; later refreshes start from the last
    one (warm start), so a few new labels cost a few steps.
    """

    hidden: int = 32
    buckets: int = 2**13
    steps: int = 100
    batch_size: int = 256
    lr: float = 0.02
    weight_decay: float = 1e-5
    tolerance: float = 0.03
    seed: int = 0


class _TextNet(nn.Module):
    """Sparse n-gram features -> hidden layer (an EmbeddingBag: only the present buckets are touched) -> a scalar,
    or a vector of `outputs` (one per label of a multi-label task)."""

    def __init__(self, buckets: int, hidden: int, outputs: int = 1) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(buckets, hidden, mode="sum")
        nn.init.normal_(self.embed.weight, std=1.0)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.out = nn.Linear(hidden, outputs)

    def forward(self, index: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(self.embed(index, offsets, per_sample_weights=weights) + self.bias)
        out = self.out(hidden)
        return out.squeeze(-1) if out.shape[-1] == 1 else out


#: loss_of(outputs of a text batch, examples) -> excess loss (0 at the best possible fit)
ExampleLoss = Callable[[Callable[[Sequence[str]], torch.Tensor], list[int]], torch.Tensor]


class TextScorer:
    """A `_TextNet` over hashed n-grams: bounded (re)training from a loss over examples, scoring messages."""

    def __init__(self, config: TextNetConfig, outputs: int = 1) -> None:
        self.config, self.outputs_per_text = config, outputs
        self.features = HashedNgrams(NgramConfig(buckets=config.buckets))
        self.net: _TextNet | None = None
        self.steps_taken = 0  # Adam steps of the last fit (for reports and tests)

    def fit(self, n_examples: int, loss_of: ExampleLoss) -> None:
        """Train on `n_examples` examples; `loss_of(forward, chosen)` is the excess loss on the chosen ones."""
        config = self.config
        if self.net is None:
            with torch.random.fork_rng(devices=[]):  # leaves torch's global RNG (PPO's) as it was
                torch.manual_seed(config.seed)
                self.net = _TextNet(config.buckets, config.hidden, self.outputs_per_text)
        net = self.net.train()
        optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sampler = random.Random(config.seed)
        everything = list(range(n_examples))

        def forward(texts: Sequence[str]) -> torch.Tensor:
            return net(*self.features.batch(texts))

        self.steps_taken = 0
        for _ in range(config.steps):
            chosen = everything if n_examples <= config.batch_size else sampler.sample(everything, config.batch_size)
            loss = loss_of(forward, chosen)
            if loss.item() < config.tolerance:
                break
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            self.steps_taken += 1
        net.eval()

    def outputs(self, texts: Sequence[str]) -> np.ndarray:
        """The network's outputs for `texts`, one row per text when it has several (zeros when untrained)."""
        if self.net is None or not texts:
            shape = (len(texts),) if self.outputs_per_text == 1 else (len(texts), self.outputs_per_text)
            return np.zeros(shape, dtype=np.float64)
        with torch.inference_mode():
            return self.net(*self.features.batch(texts)).double().numpy()


def _ask_once(new_messages: Sequence[str], asked: set[str]) -> list[Item]:
    """The non-empty messages not asked about before, each once."""
    items: list[Item] = []
    for message in new_messages:
        if message and message not in asked:
            asked.add(message)
            items.append(message)
    return items


def _helpful_labels(labels: Mapping[Item, Any]) -> dict[str, bool]:
    """The helpful labels among `labels`: message -> bool, sorted by message. Anything else (a pending None, or a
    wrong-shaped answer from a server, such as the string "false", which bool() would call helpful) is ignored."""
    return dict(sorted((i, v) for i, v in labels.items() if isinstance(i, str) and isinstance(v, bool)))


class RetrievalModel:
    """ONI-retrieval: 1.0 for a message labelled helpful; 0.0 if labelled unhelpful or not labelled yet."""

    task = HELPFUL

    def __init__(self) -> None:
        self._helpful: frozenset[str] = frozenset()
        self._asked: set[str] = set()

    def items_for(self, new_messages: Sequence[str], seen_messages: Sequence[str], rng: random.Random) -> list[Item]:
        return _ask_once(new_messages, self._asked)

    def update(self, labels: Mapping[Item, Any]) -> bool:
        helpful = frozenset(m for m, label in _helpful_labels(labels).items() if label)
        changed, self._helpful = helpful != self._helpful, helpful
        return changed

    def score(self, message: str) -> float:
        return 1.0 if message in self._helpful else 0.0

    def score_many(self, messages: Sequence[str]) -> list[float]:
        return [self.score(m) for m in messages]


class ClassificationModel:
    """ONI-classification: P(helpful | n-grams) from an MLP trained on the labels so far; reward 1 if > 0.5.

    Untrained (no labels, or labels of one class only) it scores every message 0.
    """

    task = HELPFUL

    def __init__(self, config: TextNetConfig | None = None) -> None:
        self._scorer = TextScorer(config or TextNetConfig())
        self._trained_on: dict[str, bool] = {}
        self._asked: set[str] = set()

    def items_for(self, new_messages: Sequence[str], seen_messages: Sequence[str], rng: random.Random) -> list[Item]:
        return _ask_once(new_messages, self._asked)

    def update(self, labels: Mapping[Item, Any]) -> bool:
        data = _helpful_labels(labels)
        if data == self._trained_on:
            return False
        self._trained_on = data
        was_trained = self._scorer.net is not None
        if len(set(data.values())) < 2:
            self._scorer.net = None
            return was_trained
        texts = list(data)
        targets = torch.tensor([float(v) for v in data.values()])

        def loss_of(forward: Callable[[Sequence[str]], torch.Tensor], chosen: list[int]) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(forward([texts[k] for k in chosen]), targets[chosen])

        self._scorer.fit(len(texts), loss_of)
        return True

    def probability(self, message: str) -> float:
        """P(helpful) of a message (0.0 when untrained)."""
        if self._scorer.net is None:
            return 0.0
        return float(1.0 / (1.0 + np.exp(-self._scorer.outputs([message])[0])))

    def score(self, message: str) -> float:
        return self.score_many([message])[0]

    def score_many(self, messages: Sequence[str]) -> list[float]:
        logits = self._scorer.outputs(messages)
        return [1.0 if m and logit > 0.0 else 0.0 for m, logit in zip(messages, logits, strict=True)]


def _entropy(p: torch.Tensor) -> torch.Tensor:
    """Binary entropy of targets p (0 where p is 0 or 1)."""
    q = p.clamp(1e-12, 1 - 1e-12)
    return torch.where((p > 0) & (p < 1), -(q * q.log() + (1 - q) * (1 - q).log()), torch.zeros_like(p))


#: pairs label -> P(first is better): 1 the first, 2 the second, 0 a tie (Motif).
_PREFERENCE = {1: 1.0, 2: 0.0, 0: 0.5}


def _is_pair(item: Any, label: Any) -> bool:
    """Whether (item, label) is a pairs label: two distinct texts and 0, 1 or 2 (a label source fed by a network
    peer may hold anything else)."""
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], str)
            and item[0] != item[1] and isinstance(label, int) and label in _PREFERENCE)


class RankingModel:
    """Motif: r(text) trained on pair preferences with Bradley-Terry, P(a > b) = sigmoid(r(a) - r(b)).

    The reward is r z-scored over the distinct messages seen so far, with values below the `quantile` of those
    z-scores set to 0. Each new message is paired with up to `pairs_per_message` random earlier distinct
    messages; identical texts are ties by definition and are never sent.
    """

    task = PAIRS

    def __init__(self, config: TextNetConfig | None = None, quantile: float = 0.5, pairs_per_message: int = 3) -> None:
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {quantile}")
        self._scorer = TextScorer(config or TextNetConfig())
        self.quantile = quantile
        self.pairs_per_message = pairs_per_message
        self._known: dict[str, None] = {}  # distinct messages seen, in order: what scores are standardised over
        self._introduced: set[str] = set()  # messages items_for has paired already
        self._asked: set[frozenset[str]] = set()
        self._trained_on: dict[tuple[str, str], float] = {}
        self._normalised_over = 0
        self._mean, self._std, self._threshold = 0.0, 0.0, 0.0

    def items_for(self, new_messages: Sequence[str], seen_messages: Sequence[str], rng: random.Random) -> list[Item]:
        items: list[Item] = []
        batch: list[str] = []  # this call's new messages count as earlier ones for those after them
        for message in new_messages:
            if not message or message in self._introduced:
                continue
            for partner in self._partners(message, seen_messages, batch, rng):
                self._asked.add(frozenset((message, partner)))
                items.append((message, partner) if rng.random() < 0.5 else (partner, message))
            self._introduced.add(message)
            self._known.setdefault(message)
            batch.append(message)
        return items

    def _partners(self, message: str, seen: Sequence[str], batch: list[str], rng: random.Random) -> list[str]:
        """Up to `pairs_per_message` distinct earlier messages, different from `message`, not paired with it yet."""
        pool = len(seen) + len(batch)
        partners: list[str] = []
        for j in rng.sample(range(pool), min(pool, 2 * self.pairs_per_message)):
            partner = seen[j] if j < len(seen) else batch[j - len(seen)]
            if (partner and partner != message and partner not in partners
                    and frozenset((message, partner)) not in self._asked):
                partners.append(partner)
                if len(partners) == self.pairs_per_message:
                    break
        return partners

    def update(self, labels: Mapping[Item, Any]) -> bool:
        data = {pair: _PREFERENCE[label] for pair, label in sorted((i, v) for i, v in labels.items() if _is_pair(i, v))}
        for a, b in data:
            self._known.setdefault(a)
            self._known.setdefault(b)
        if data == self._trained_on and len(self._known) == self._normalised_over:
            return False
        retrained = data != self._trained_on and self._train(data)
        return self._normalise() or retrained

    def _train(self, data: dict[tuple[str, str], float]) -> bool:
        """Fit r(text) to the preferences in `data`; whether there was or now is a trained network."""
        self._trained_on = data
        was_trained = self._scorer.net is not None
        if all(p == 0.5 for p in data.values()):  # no labels, or ties only: nothing to rank by
            self._scorer.net = None
            return was_trained
        pairs = list(data)
        targets = torch.tensor(list(data.values()), dtype=torch.float32)
        floors = _entropy(targets)  # the least BCE each target allows (ln 2 for a tie)

        def loss_of(forward: Callable[[Sequence[str]], torch.Tensor], chosen: list[int]) -> torch.Tensor:
            texts = list(dict.fromkeys(t for k in chosen for t in pairs[k]))
            position = {t: j for j, t in enumerate(texts)}
            r = forward(texts)
            first = torch.tensor([position[pairs[k][0]] for k in chosen])
            second = torch.tensor([position[pairs[k][1]] for k in chosen])
            return F.binary_cross_entropy_with_logits(r[first] - r[second], targets[chosen]) - floors[chosen].mean()

        self._scorer.fit(len(pairs), loss_of)
        return True

    def _normalise(self) -> bool:
        """Mean, std and quantile threshold of the z-scores over the known messages; whether they changed."""
        before = (self._mean, self._std, self._threshold)
        self._normalised_over = len(self._known)
        raw = self._scorer.outputs(list(self._known))
        std = float(raw.std()) if len(raw) > 1 else 0.0
        if self._scorer.net is None or std < 1e-8:
            self._mean, self._std, self._threshold = 0.0, 0.0, 0.0
        else:
            mean = float(raw.mean())
            self._mean, self._std = mean, std
            self._threshold = float(np.quantile((raw - mean) / std, self.quantile))
        return (self._mean, self._std, self._threshold) != before

    def raw(self, message: str) -> float:
        """r(message) before standardisation (0.0 when untrained)."""
        return float(self._scorer.outputs([message])[0])

    def score(self, message: str) -> float:
        return self.score_many([message])[0]

    def score_many(self, messages: Sequence[str]) -> list[float]:
        if self._std == 0.0:
            return [0.0] * len(messages)
        z = (self._scorer.outputs(messages) - self._mean) / self._std
        return [float(v) if m and v >= self._threshold else 0.0 for m, v in zip(messages, z, strict=True)]
