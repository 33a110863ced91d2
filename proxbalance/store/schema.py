"""Table definitions (SQLAlchemy Core). Tables are created only by migrations (store/migrations.py)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("name", String(100), primary_key=True),
    Column("applied_at", Float, nullable=False),  # Unix seconds
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),  # first characters of the key, shown in listings
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("scope", String(10), nullable=False),  # read | admin
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("actor", String(120), nullable=False),  # "key:<id>:<name>", "bootstrap", "cli", "anonymous"
    Column("method", String(10), nullable=False),
    Column("path", String(500), nullable=False),
    Column("status", Integer, nullable=False),
    Column("result", String(20), nullable=False),  # ok | error
    Column("request_id", String(40), nullable=False),
    Column("remote_addr", String(64)),
    Column("detail", Text),  # JSON: request body keys (secrets redacted) and error code
    Column("success", Boolean, nullable=False),
)
Index("ix_audit_log_time", audit_log.c.time)


# --- collector (migration 0002): snapshots, history, rollups, guest inventory -------------------------------
# Full-fidelity snapshot rows (what latest_snapshot() returns). Guest/storage/HA-rule detail is pruned to the
# newest ``retention.full_snapshots`` snapshots; snapshot and node rows live ``retention.raw_hours``.
snapshots = Table(
    "snapshots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),  # Unix seconds when the cycle started
    Column("duration", Float, nullable=False),  # seconds
    Column("quorate", Boolean, nullable=False),
    Column("cluster_name", String(100), nullable=False),
    Column("errors", Text, nullable=False),  # JSON list of strings
    Column("api_calls", Integer, nullable=False),
    Column("node_count", Integer, nullable=False),
    Column("guest_count", Integer, nullable=False),
    Column("has_detail", Boolean, nullable=False),  # False once guest rows were pruned
)
Index("ix_snapshots_time", snapshots.c.time)

snapshot_nodes = Table(
    "snapshot_nodes", metadata,
    Column("snapshot_id", Integer, primary_key=True),
    Column("pos", Integer, primary_key=True),  # order within the snapshot
    Column("name", String(64), nullable=False),
    Column("data", Text, nullable=False),  # JSON of every Node field (units of model.Node)
)

snapshot_guests = Table(
    "snapshot_guests", metadata,
    Column("snapshot_id", Integer, primary_key=True),
    Column("pos", Integer, primary_key=True),
    Column("vmid", Integer, nullable=False),
    Column("node", String(64), nullable=False),
    Column("data", Text, nullable=False),  # JSON of every Guest field, disks as lists
)

snapshot_extras = Table(
    "snapshot_extras", metadata,
    Column("snapshot_id", Integer, primary_key=True),
    Column("storages", Text, nullable=False),  # JSON list of Storage fields
    Column("ha_rules", Text, nullable=False),  # JSON list of HARule fields
)

# Collector cache: one row per guest, the parsed config and the last byte counters (for rates).
guest_inventory = Table(
    "guest_inventory", metadata,
    Column("vmid", Integer, primary_key=True, autoincrement=False),
    Column("type", String(8), nullable=False),
    Column("node", String(64), nullable=False),
    Column("lock", String(32)),
    Column("tags", Text, nullable=False),  # ";"-joined
    Column("shape", String(64), nullable=False),  # maxcpu/maxmem/maxdisk fingerprint: changes with the config
    Column("digest", String(64), nullable=False),
    Column("config", Text, nullable=False),  # JSON: disks, passthrough, bind_mounts, cores, memory
    Column("config_cycle", Integer, nullable=False),  # collection cycle number of the last config read
    Column("config_time", Float, nullable=False),
    Column("counters", Text),  # JSON [time, node, diskread, diskwrite, netin, netout] (cumulative bytes)
    Column("seen_time", Float, nullable=False),
)

collector_state = Table(
    "collector_state", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# History. Guest tables are WITHOUT ROWID keyed (t, vmid) and hold compact integers:
# cpu in millicores (cores x 1000), mem in KiB, disk/net in bytes/s (read+write, in+out).
# Rollup rows: t = bucket start (Unix seconds), n = raw samples in the bucket (weights for averages).
_GUEST_METRICS = ("cpu", "mem", "disk", "net")


def _guest_table(name: str, rollup: bool) -> Table:
    cols = [Column("t", Integer, primary_key=True, autoincrement=False),
            Column("vmid", Integer, primary_key=True, autoincrement=False)]
    for m in _GUEST_METRICS:
        cols.append(Column(m, Integer, nullable=False))
        if rollup:
            cols.append(Column(m + "_max", Integer, nullable=False))
    if rollup:
        cols.append(Column("n", Integer, nullable=False))
    return Table(name, metadata, *cols, sqlite_with_rowid=False)


def _node_table(name: str, rollup: bool) -> Table:
    cols = [Column("t", Integer, primary_key=True, autoincrement=False),
            Column("node", String(64), primary_key=True)]
    for m in ("cpu", "mem", "iowait", "net"):  # cores, bytes, fraction, bytes/s
        cols.append(Column(m, Float, nullable=False))
        if rollup:
            cols.append(Column(m + "_max", Float, nullable=False))
    if rollup:
        cols.append(Column("n", Integer, nullable=False))
    return Table(name, metadata, *cols, sqlite_with_rowid=False)


guest_raw = _guest_table("guest_raw", False)
guest_5m = _guest_table("guest_5m", True)
guest_1h = _guest_table("guest_1h", True)
node_raw = _node_table("node_raw", False)
node_5m = _node_table("node_5m", True)
node_1h = _node_table("node_1h", True)
COLLECTOR_TABLES = (snapshots, snapshot_nodes, snapshot_guests, snapshot_extras, guest_inventory,
                    collector_state, guest_raw, guest_5m, guest_1h, node_raw, node_5m, node_1h)
