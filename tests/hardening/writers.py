"""Child-process helpers for the concurrency tests (imported by spawned processes, so module-level)."""

from __future__ import annotations

import sys
import time
import traceback


def mixed_writes(url: str, worker: int, n: int) -> list[str]:
    """``n`` mixed store writes from one process; returns the error texts (empty = all succeeded)."""
    from proxbalance.store import audit, keys, leases, plans
    from proxbalance.store.db import make_engine

    engine = make_engine(url)
    errors: list[str] = []
    _, plaintext = keys.create_key(engine, f"w{worker}", "read")
    for i in range(n):
        try:
            kind = i % 6
            if kind == 0:
                audit.record(engine, actor=f"w{worker}", method="POST", path="/api/x", status=200,
                             request_id=f"{worker}-{i}")
            elif kind == 1:
                cfg = (plans.load_penalty_config(engine) or ({}, None))[0]
                plans.save_penalty_config(engine, {**cfg, f"w{worker}": i}, None)
            elif kind == 2:
                plans.save_run(engine, snapshot_time=time.time(), generation_ms=1.0, params={"w": worker},
                               result={"i": i}, keep=20)
            elif kind == 3:
                key, _ = keys.create_key(engine, f"w{worker}-{i}", "read")
                keys.revoke_key(engine, key.id)
            elif kind == 4:
                if leases.acquire(engine, f"lease-{i % 3}", f"w{worker}", 5.0):
                    leases.release(engine, f"lease-{i % 3}", f"w{worker}")
                plans.add_feedback(engine, vmid=100 + worker, rating="helpful", comment=None, run_id=None,
                                   actor=f"w{worker}")
            else:
                # force the last-use write every time: it must never fail even while others write
                from sqlalchemy import update

                from proxbalance.store.schema import api_keys
                from proxbalance.store.tx import write_tx
                with write_tx(engine) as conn:
                    conn.execute(update(api_keys).where(api_keys.c.name == f"w{worker}").values(last_used_at=None))
                assert keys.verify_key(engine, plaintext) is not None
                audit.record(engine, actor=f"w{worker}", method="POST", path="/api/y", status=200,
                             request_id=f"{worker}-{i}")
        except Exception:
            errors.append(traceback.format_exc(limit=3))
    engine.dispose()
    return errors


def hold_lease(url: str, name: str, ttl: float) -> None:
    """Take ``name`` (renewed in the background), say so on stdout, then sleep until killed."""
    from proxbalance.store import leases
    from proxbalance.store.db import make_engine

    engine = make_engine(url)
    with leases.holding(engine, name, ttl) as held:
        print(f"held {held.holder}", flush=True)
        time.sleep(3600)


if __name__ == "__main__":
    hold_lease(sys.argv[1], sys.argv[2], float(sys.argv[3]))
