"""Core sub-commands: serve, db upgrade, keys create|list|revoke, config check|show."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from proxbalance.config import load_settings
from proxbalance.store import Store
from proxbalance.store import keys as key_store
from proxbalance.store.migrations import upgrade


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the API (and the dashboard in demo mode) with waitress")
    p.add_argument("--host", help="listen address (default: server.host)")
    p.add_argument("--port", type=int, help="listen port (default: server.port)")
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", metavar="ACTION")
    up = db.add_parser("upgrade", help="apply pending schema migrations")
    up.set_defaults(func=cmd_db_upgrade)

    k = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", metavar="ACTION")
    c = k.add_parser("create", help="create a key and print it once")
    c.add_argument("name")
    c.add_argument("--scope", choices=key_store.SCOPES, default="read")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_keys_create)
    ls = k.add_parser("list", help="list keys (never the keys themselves)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_keys_list)
    r = k.add_parser("revoke", help="revoke a key by id")
    r.add_argument("id", type=int)
    r.set_defaults(func=cmd_keys_revoke)

    cfg = sub.add_parser("config", help="inspect configuration").add_subparsers(dest="config_command",
                                                                                metavar="ACTION")
    cfg.add_parser("check", help="validate the configuration and exit").set_defaults(func=cmd_config_check)
    show = cfg.add_parser("show", help="print the effective configuration, secrets redacted")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_config_show)
    d = sub.add_parser("docs", help="check or refresh the generated parts of docs/ (settings, API, CLI)")
    d.add_argument("--write", action="store_true", help="rewrite stale sections instead of only listing them")
    d.set_defaults(func=cmd_docs)


def _store(args) -> Store:
    return Store.open(load_settings(args.config))


def cmd_serve(args) -> int:
    import waitress

    from proxbalance.api import create_app

    settings = load_settings(args.config)
    host = args.host or settings["server.host"]
    port = args.port or settings["server.port"]
    app = create_app(settings)
    print(f"ProxBalance API on http://{host}:{port}/ (docs at /api/docs)", flush=True)
    waitress.serve(app, host=host, port=port, threads=args.threads, ident="proxbalance")
    return 0


def cmd_db_upgrade(args) -> int:
    store = Store.open(load_settings(args.config), migrate=False)
    done = upgrade(store.engine)
    print("applied: " + ", ".join(done) if done else "database is up to date")
    return 0


def cmd_keys_create(args) -> int:
    record, plaintext = key_store.create_key(_store(args).engine, args.name, args.scope)
    if args.json:
        print(json.dumps({"id": record.id, "name": record.name, "scope": record.scope, "key": plaintext}))
    else:
        print(f"created key {record.id} ({record.name}, scope {record.scope}). Store it now, it is not shown "
              f"again:\n{plaintext}")
    return 0


def _ts(value: float | None) -> str | None:
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds") if value else None


def cmd_keys_list(args) -> int:
    rows = key_store.list_keys(_store(args).engine)
    if args.json:
        print(json.dumps([{"id": k.id, "name": k.name, "prefix": k.prefix, "scope": k.scope,
                           "created_at": _ts(k.created_at), "last_used_at": _ts(k.last_used_at),
                           "revoked_at": _ts(k.revoked_at)} for k in rows], indent=2))
        return 0
    print(f"{'ID':>4}  {'NAME':20}  {'SCOPE':6}  {'PREFIX':11}  STATE")
    for k in rows:
        print(f"{k.id:>4}  {k.name[:20]:20}  {k.scope:6}  {k.prefix:11}  "
              f"{'active' if k.active else 'revoked ' + _ts(k.revoked_at)}")
    return 0


def cmd_keys_revoke(args) -> int:
    record = key_store.revoke_key(_store(args).engine, args.id)
    print(f"revoked key {record.id} ({record.name})")
    return 0


def cmd_config_check(args) -> int:
    settings = load_settings(args.config)
    print(f"configuration is valid ({sum(1 for n in settings if settings.source(n) != 'default')} settings set)")
    return 0


def cmd_config_show(args) -> int:
    settings = load_settings(args.config)
    redacted = settings.redacted()
    if args.json:
        print(json.dumps(redacted, indent=2))
        return 0
    for name, value in redacted.items():
        print(f"{name} = {json.dumps(value)}    # {settings.source(name)}")
    return 0


def cmd_docs(args) -> int:
    from proxbalance import docs_gen

    if args.write:
        changed = docs_gen.write()
        print("updated: " + ", ".join(changed) if changed else "docs are up to date")
        return 0
    stale = docs_gen.stale()
    print("stale: " + ", ".join(stale) if stale else "docs are up to date")
    return 1 if stale else 0
