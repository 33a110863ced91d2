"""LexOrder reads exactly like the full lexsort it replaces (ties on every key, rounding, NaN, broadcast keys)."""

import numpy as np
import pytest

from proxbalance.engine.lexorder import LexOrder


def _full(idx, keys):
    shape = keys[0][0].shape
    flat = [np.broadcast_to(g, shape).ravel()[idx] for g, _ in keys]
    flat = [np.round(x, d) if d is not None else x for x, (_, d) in zip(flat, keys, strict=True)]
    return idx[np.lexsort(flat[::-1])]


def _read(order, first=16):
    """Read as the peak phase does: growing chunks from the front."""
    start, size, got = 0, first, []
    while start < len(order):
        got.append(order[start:start + size])
        start, size = start + size, size * 4
    return np.concatenate(got) if got else np.zeros(0, dtype=np.int64)


@pytest.mark.parametrize("seed", range(12))
def test_lexorder_equals_lexsort(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 80)), int(rng.integers(1, 70))
    levels = int(rng.integers(1, 4))  # few distinct values: ties on the first keys, many cells per tie
    primary = np.round(rng.integers(0, levels, (m, n)) * 0.1 + rng.random((m, n)) * 1e-7, 6)
    if seed % 3 == 1:
        primary[rng.random((m, n)) < 0.1] = np.nan
    second = rng.integers(0, 2, (m, n)) * 0.5 + 1e-12 * rng.random((m, n))
    ids = np.broadcast_to(rng.integers(0, 3, m)[:, None], (m, n))  # ties left for position order
    rank = np.broadcast_to(rng.permutation(n)[None, :] % 2, (m, n))
    keys = [(primary, 5), (second, 9), (ids, None), (rank, None)]
    idx = np.flatnonzero((rng.random((m, n)) < 0.8).ravel())
    want = _full(idx, keys)
    assert len(LexOrder(idx, keys)) == len(want)
    for first in (1, 16, 1000):
        np.testing.assert_array_equal(_read(LexOrder(idx, keys), first), want)
    np.testing.assert_array_equal(LexOrder(idx, keys)[0:len(idx)], want)


def test_all_tied_cells_come_in_position_order():
    idx = np.arange(0, 900, 3)
    keys = [(np.zeros((30, 30)), 5), (np.ones((30, 30)), 9)]
    np.testing.assert_array_equal(LexOrder(idx, keys)[0:16], idx[:16])
    np.testing.assert_array_equal(_read(LexOrder(idx, keys)), idx)
