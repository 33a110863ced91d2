"""Docs tests: every setting, endpoint and CLI command is documented, and the docs are current."""

from pathlib import Path

from proxbalance import docs_gen
from proxbalance.api import BLUEPRINTS, create_app  # noqa: F401 - importing declares the endpoints
from proxbalance.api.endpoint import ENDPOINTS
from proxbalance.config import SETTINGS, load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_generated_sections_are_current():
    assert docs_gen.stale() == [], "run `proxbalance docs --write` and commit docs/"


def test_every_setting_documented():
    text = (DOCS / "configuration.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text or not s.help.strip()]
    assert missing == []


def test_every_endpoint_documented(app):
    text = (DOCS / "api.md").read_text()
    missing = [f"{s.method} {s.openapi_path}" for s in ENDPOINTS
               if f"| {s.method} | `{s.openapi_path}` |" not in text or len(s.summary) < 10]
    assert missing == []
    # and every route the app serves was declared through the endpoint decorator
    declared = {(s.method, s.path) for s in ENDPOINTS}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "web":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, rule.rule) in declared, f"{method} {rule.rule} bypasses the endpoint decorator"


def test_every_cli_command_documented():
    text = (DOCS / "cli.md").read_text()
    for line in docs_gen.cli_table().splitlines()[2:]:
        command = line.split("`")[1]
        assert f"`{command}`" in text


def test_example_config_is_valid(monkeypatch, tmp_path):
    monkeypatch.setenv("PROXBALANCE_DISCORD_URL", "discord://webhook_id/webhook_token")
    (tmp_path / "token").write_text("secret-uuid\n")
    text = (DOCS / "config.example.toml").read_text().replace("/etc/proxbalance/pve-token", str(tmp_path / "token"))
    (tmp_path / "config.toml").write_text(text)
    settings = load_settings(tmp_path / "config.toml", env={})
    assert settings["proxmox.token_secret"] == "secret-uuid"
    assert settings["proxmox.host"] == "pve1.example.lan"
    assert settings["notifications.urls"] == ["discord://webhook_id/webhook_token"]
