"""A lexicographic order of grid cells that sorts only as far as it is read.

The peak phase (:mod:`peak`) ranks every allowed cell of an ``(m, N)`` grid (a few thousand) by several keys and
reads the ranking from the front, usually taking one of the first 16 cells. :class:`LexOrder` yields the same
sequence as ``idx[np.lexsort(keys[::-1])]`` (first key primary, ties by position in ``idx``) but sorts only a
*prefix set* at a time: the cells whose key tuple is at most a threshold tuple ``(v0, v1, ...)``, found by
selection (``np.partition``) key by key among the cells tied so far. Every other cell's tuple is larger, so it
comes later in the full order, and sorting the prefix set alone (stable, in position order) gives exactly the
full order's first cells. The cells left over are ordered the same way when they are read.
"""

from __future__ import annotations

import numpy as np

MIN_BLOCK = 64  # cells a prefix set holds at least (when there are that many)


class LexOrder:
    """Flat cell indices ``idx`` (increasing) of a grid, in lexicographic order of ``keys``.

    ``keys``: ``[(grid, decimals), ...]`` primary first; ``grid`` an ``(m, n)`` array (a broadcast view is fine);
    the key of flat cell ``c`` is ``grid[c // n, c % n]``, rounded to ``decimals`` when not None (as
    ``np.round``). Supports ``len()`` and slices ``order[a:b]`` (``a, b >= 0``), which return index arrays.
    """

    def __init__(self, idx: np.ndarray, keys: list[tuple[np.ndarray, int | None]]):
        self.idx = idx
        self.keys = keys
        self.n = keys[0][0].shape[1]
        self.sorted = np.zeros(0, dtype=np.int64)  # positions into idx, in order (a prefix of the full order)
        self.rest = np.arange(len(idx))  # positions not yet ordered, increasing

    def _key(self, k: int, pos: np.ndarray) -> np.ndarray:
        grid, dec = self.keys[k]
        i, j = np.divmod(self.idx[pos], self.n)
        x = grid[i, j]
        return np.round(x, dec) if dec is not None else x

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, s: slice) -> np.ndarray:
        stop = len(self.idx) if s.stop is None else min(s.stop, len(self.idx))
        while len(self.sorted) < stop:
            self._extend(max(stop - len(self.sorted), MIN_BLOCK))
        return self.idx[self.sorted[s]]

    def _prefix(self, want: int) -> np.ndarray:
        """``(len(rest),)`` bool: a prefix set of the rest (key tuple <= a threshold) of at least ``want`` cells."""
        rest = self.rest
        take = np.zeros(len(rest), dtype=bool)
        tied = np.arange(len(rest))  # cells tied on every key so far (positions into rest)
        for k in range(len(self.keys)):
            if len(tied) <= want:
                break
            x = self._key(k, rest[tied])
            v = np.partition(x, want - 1)[want - 1]
            if np.isnan(v):  # NaN sorts last: the cells below it, then every tied cell, in order
                break
            less = x < v
            take[tied[less]] = True
            want -= int(less.sum())
            tied = tied[x == v]
        take[tied] = True  # tied on every key (or few enough): all of them
        return take

    def _extend(self, want: int) -> None:
        take = self._prefix(want) if len(self.rest) > want else np.ones(len(self.rest), dtype=bool)
        block = self.rest[take]
        keys = [self._key(k, block) for k in range(len(self.keys))]
        self.sorted = np.concatenate([self.sorted, block[np.lexsort(keys[::-1])]])
        self.rest = self.rest[~take]
