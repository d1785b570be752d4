"""Hashed character n-grams of a message: a cheap text representation that shares structure across messages.

"You kill the newt!" and "You kill the rat!" share most of their 1-4-grams, so a model trained on the first
generalises to the second. Text is lower-cased, digits become 0 ("5 gold pieces" ~ "12 gold pieces"), and it
is padded with spaces so word starts and ends are n-grams of their own. Buckets come from crc32 (stable across
processes, unlike `hash`), counts are L2-normalised.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class NgramConfig:
    """Feature shape: n-gram orders and the number of hash buckets (a power of two)."""

    orders: tuple[int, ...] = (1, 2, 3, 4)
    buckets: int = 2**13


def normalise(text: str) -> str:
    """The text as the features see it: lower case, digits as 0, space-padded."""
    return f" {_DIGITS.sub('0', text.lower().strip())} "


class HashedNgrams:
    """Message -> sparse L2-normalised bucket counts; each distinct message is encoded once (cached)."""

    def __init__(self, config: NgramConfig | None = None) -> None:
        self.config = config or NgramConfig()
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(bucket indices, weights) of one message; weights have unit L2 norm (empty text: no entries)."""
        found = self._cache.get(text)
        if found is None:
            found = self._cache[text] = self._encode(text)
        return found

    def _encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        if not text.strip():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        padded = normalise(text).encode("latin-1", "replace")
        buckets = self.config.buckets
        hashes = [zlib.crc32(padded[i:i + n]) % buckets
                  for n in self.config.orders for i in range(len(padded) - n + 1)]
        index, counts = np.unique(np.asarray(hashes, dtype=np.int64), return_counts=True)
        weights = counts.astype(np.float32)
        return index, weights / np.linalg.norm(weights)

    def batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """EmbeddingBag inputs (indices, offsets, per-sample weights) for a batch of messages."""
        encoded = [self.encode(text) for text in texts]
        lengths = np.fromiter((len(index) for index, _ in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        index = np.concatenate([i for i, _ in encoded]) if encoded else np.zeros(0, dtype=np.int64)
        weights = np.concatenate([w for _, w in encoded]) if encoded else np.zeros(0, dtype=np.float32)
        return torch.from_numpy(index), torch.from_numpy(offsets), torch.from_numpy(weights)
