"""A lexicographic order of grid cells that sorts only as far as it is read.

The peak phase (:mod:`peak`) ranks every allowed cell of an ``(m, N)`` grid (a few thousand) by several keys and
reads the ranking from the front, usually taking one of the first 16 cells. :class:`LexOrder` yields the same
sequence as ``idx[np.lexsort(keys[::-1])]`` (first key primary, ties by position in ``idx``, NaN last) but,
for a short read, selects only the first cells: one compiled pass over the cells keeps the ``k`` smallest key
tuples in order (:func:`_smallest`). A long read sorts everything.
"""

from __future__ import annotations

import numpy as np

from .kernels import jit

MIN_BLOCK = 64  # cells selected at least per read


@jit(inline="always")
def _less(K, a, b):
    """Key tuple of cell ``a`` < that of cell ``b`` (``K`` (k, n)); NaN sorts after every number, as numpy's."""
    for r in range(K.shape[0]):
        x, y = K[r, a], K[r, b]
        if x < y:
            return True
        if x > y:
            return False
        if x != x and y == y:  # x NaN, y a number
            return False
        if y != y and x == x:
            return True
    return False


@jit
def _smallest(K, want):
    """Positions of the ``want`` smallest key tuples of ``K`` (k, n), in order (ties: lower position first)."""
    n = K.shape[1]
    buf = np.empty(min(want, n), dtype=np.int64)
    cnt = 0
    for p in range(n):
        if cnt == len(buf) and not _less(K, p, buf[cnt - 1]):
            continue
        q = cnt if cnt < len(buf) else cnt - 1  # a full buffer drops its last cell
        while q > 0 and _less(K, p, buf[q - 1]):
            buf[q] = buf[q - 1]
            q -= 1
        buf[q] = p
        if cnt < len(buf):
            cnt += 1
    return buf


class LexOrder:
    """Flat cell indices ``idx`` (increasing) of a grid, in lexicographic order of ``keys``.

    ``keys``: ``[(grid, decimals), ...]`` primary first; ``grid`` an ``(m, n)`` array (a broadcast view is fine);
    the key of flat cell ``c`` is ``grid[c // n, c % n]``, rounded to ``decimals`` when not None (as
    ``np.round``). Supports ``len()`` and slices ``order[a:b]`` (``a, b >= 0``), which return index arrays.
    """

    def __init__(self, idx: np.ndarray, keys: list[tuple[np.ndarray, int | None]]):
        self.idx = idx
        i, j = np.divmod(idx, keys[0][0].shape[1])
        self.K = np.empty((len(keys), len(idx)))  # (k, cells) key values
        for r, (grid, dec) in enumerate(keys):
            x = grid[i, j]
            self.K[r] = np.round(x, dec) if dec is not None else x
        self.sorted = np.zeros(0, dtype=np.int64)  # positions into idx, in order (a prefix of the full order)

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, s: slice) -> np.ndarray:
        stop = len(self.idx) if s.stop is None else min(s.stop, len(self.idx))
        if len(self.sorted) < stop:
            want = max(stop, MIN_BLOCK)
            if 8 * want >= len(self.idx):  # most of it: one full sort
                self.sorted = np.lexsort(self.K[::-1])
            else:
                self.sorted = _smallest(self.K, want)
        return self.idx[self.sorted[s]]
