"""Hysteresis against the previous plan. ``(m, c)`` points.

``arrays.prev_choice`` ``(G,)`` holds each row's choice in the previous run: the node it was to move to, or
the node it stays on when it was not moved (``-1``: no previous run, the term is zero for the row). Every
other node costs ``stability_margin`` points, so a plan replaces a previous choice (moving elsewhere, staying
instead of moving, or moving instead of staying) only when the new choice is better by the margin.
"""

from __future__ import annotations

from ..registry import register, zero


@register("stability", "penalty", "stability", ("stability_margin",), dynamic=False,
          help="Hysteresis: any node but the guest's choice in the previous plan (its target, or its node when "
               "it was not moved) costs stability_margin.")
def stability(v, a):
    pc = v.a.prev_choice
    if pc is None or not a["stability_margin"]:
        return zero(v.shape)
    p = pc[v.rows][:, None]
    return a["stability_margin"] * ((p != v.cols[None, :]) & (p != -1))
