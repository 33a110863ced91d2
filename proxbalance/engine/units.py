"""Movable units: affinity companions that run on the same node move together.

A unit is a connected component of guests linked by a shared affinity group (``affinity_*`` tag or positive
HA resource-affinity rule) *and* running on the same node. Members of an affinity group on different nodes
form different units; the ``affinity`` penalty pulls them together. Unit rows hold summed demand; a unit is
movable only when every member is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .arrays import KINDS, ClusterArrays


def _components(arrays: ClusterArrays) -> np.ndarray:
    """(G,) component label; guests sharing an affinity group and a node get one label."""
    G = arrays.n_guests
    parent = np.arange(G)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k in range(arrays.aff.shape[1]):
        rows = np.flatnonzero(arrays.aff[:, k] > 0)
        for node in np.unique(arrays.placement[rows]):
            same = rows[arrays.placement[rows] == node]
            root = find(int(same[0]))
            for r in same[1:]:
                parent[find(int(r))] = root
    return np.array([find(i) for i in range(G)]) if arrays.aff.shape[1] else parent


class Singletons(Sequence):
    """``members`` of ``n`` one-guest units, ``[np.array([0]), ..., np.array([n - 1])]``, each made when read
    (a plan reads the members of its few moved units only; building 10,000 arrays took ~5 ms a plan)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [np.array([k]) for k in range(self.n)[i]]
        k = range(self.n)[i]  # IndexError / TypeError as a list's
        return np.array([k])


def group_units(arrays: ClusterArrays) -> tuple[ClusterArrays, np.ndarray]:
    """Return (unit arrays, unit_of (G,)). Identity (same object) when nobody has companions."""
    G = arrays.n_guests
    if arrays.aff.shape[1] == 0:
        out = dataclasses.replace(arrays, members=Singletons(G)) if arrays.members is None \
            else arrays
        return out, np.arange(G)
    labels = _components(arrays)
    roots, unit_of = np.unique(labels, return_inverse=True)
    U = len(roots)
    if U == G:
        return dataclasses.replace(arrays, members=Singletons(G)), np.arange(G)
    members = [np.flatnonzero(unit_of == u) for u in range(U)]
    # lead = largest memory user among the members (its vmid names the unit)
    lead = np.array([m[np.argmax(arrays.g["now"][m, 1])] for m in members])

    def ssum(x):
        out = np.zeros((U,) + x.shape[1:])
        np.add.at(out, unit_of, x)
        return out

    def sall(x):
        out = np.ones((U,) + x.shape[1:], dtype=bool)
        np.logical_and.at(out, unit_of, x)
        return out

    skip = arrays.skip[lead].copy()
    for u, m in enumerate(members):
        bad = [r for r in arrays.skip[m] if r]
        skip[u] = bad[0] if bad else ""
    ua = dataclasses.replace(
        arrays,
        vmids=arrays.vmids[lead],
        names=[arrays.names[i] for i in lead],
        types=[arrays.types[i] for i in lead],
        placement=arrays.placement[lead],
        g={k: ssum(arrays.g[k]) for k in KINDS},
        mem_hard=ssum(arrays.mem_hard),
        copy_bytes=ssum(arrays.copy_bytes),
        running=ssum(arrays.running.astype(float)) > 0,
        is_ct=ssum(arrays.is_ct.astype(float)) > 0,
        ct_running=ssum(arrays.ct_running),
        ha_managed=ssum(arrays.ha_managed.astype(float)) > 0,
        has_history=sall(arrays.has_history),
        skip=skip,
        storage_ok=sall(arrays.storage_ok),
        ha_allowed=sall(arrays.ha_allowed),
        ha_outside=ssum(arrays.ha_outside.astype(float)),
        ha_steps=ssum(arrays.ha_steps),
        anti=ssum(arrays.anti),
        aff=ssum(arrays.aff),
        members=members,
        need_id=None,  # storage mappings are per guest: read them on the guest arrays
    )
    return ua, unit_of
