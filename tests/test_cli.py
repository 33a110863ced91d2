import json

import pytest

from proxbalance.cli import main


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n[proxmox]\ntoken_secret = "hush"\n')
    monkeypatch.delenv("PROXBALANCE_CONFIG", raising=False)
    return str(path)


def test_keys_lifecycle(cfg, capsys):
    assert main(["--config", cfg, "keys", "create", "ops", "--scope", "admin", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith("pb_") and created["scope"] == "admin"
    assert main(["--config", cfg, "keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["ops"] and created["key"] not in json.dumps(listed)
    assert main(["--config", cfg, "keys", "revoke", str(created["id"])]) == 0
    capsys.readouterr()
    main(["--config", cfg, "keys", "list", "--json"])
    assert json.loads(capsys.readouterr().out)[0]["revoked_at"] is not None
    assert main(["--config", cfg, "keys", "revoke", "999"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_config_check_and_show_redacts(cfg, capsys):
    assert main(["--config", cfg, "config", "check"]) == 0
    assert main(["--config", cfg, "config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["proxmox.token_secret"] == "********"


def test_invalid_config_fails_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[proxmox]\nport = 0\n")
    assert main(["--config", str(bad), "config", "check"]) == 1
    assert "proxmox.port" in capsys.readouterr().err


def test_db_upgrade(cfg, capsys):
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    assert "applied: 0001_api_keys_and_audit" in capsys.readouterr().out
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
