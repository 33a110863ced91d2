import pytest

from proxbalance.config import BY_NAME, REDACTED, SETTINGS, load_settings
from proxbalance.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_file():
    s = load_settings(env={})
    assert s["proxmox.port"] == 8006
    assert s["server.host"] == "127.0.0.1"  # localhost unless configured
    assert s["auth.enabled"] is True
    assert s.source("proxmox.port") == "default"


def test_valid_file(tmp_path):
    path = write(tmp_path, '[proxmox]\nhost = "pve1"\nport = 8007\ntoken_id = "root@pam!pb"\n'
                           '[server]\ncors_origins = ["https://a.example"]\n')
    s = load_settings(path, env={})
    assert (s["proxmox.host"], s["proxmox.port"], s["server.cors_origins"]) == ("pve1", 8007, ["https://a.example"])
    assert s.source("proxmox.host") == str(path)


@pytest.mark.parametrize("text, key, reason", [
    ('[proxmox]\nport = "abc"\n', "proxmox.port", "integer"),
    ('[proxmox]\nport = 70000\n', "proxmox.port", "<= 65535"),
    ('[proxmox]\nverify_tls = "yes"\n', "proxmox.verify_tls", "boolean"),
    ('[proxmox]\ntimeout = 0\n', "proxmox.timeout", ">= 0.1"),
    ('[proxmox]\ntoken_id = "nobang"\n', "proxmox.token_id", "USER@REALM!TOKENNAME"),
    ('[penalty]\npreset = "wild"\n', "penalty.preset", "one of"),
    ('[server]\ncors_origins = "x"\n', "server.cors_origins", "list of strings"),
    ('[proxmox]\nhots = "typo"\n', "proxmox.hots", "unknown setting"),
    ('[automation]\nwindows = ["25:00-06:00"]\n', "automation.windows", "hours 00-23"),
    ('[automation]\nblackouts = ["2026-02-30"]\n', "automation.blackouts", "not a calendar date"),
    ('[automation]\ntimezone = "Mars/Olympus"\n', "automation.timezone", "unknown time zone"),
    ('[notifications]\nevents = ["migration_exploded"]\n', "notifications.events", "unknown event"),
])
def test_invalid_values_name_key_and_reason(tmp_path, text, key, reason):
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, text), env={})
    assert key in exc.value.message and reason in exc.value.message


def test_bad_toml_and_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[proxmox\nhost="), env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", env={})


def test_env_overrides_file(tmp_path):
    path = write(tmp_path, '[proxmox]\nhost = "from-file"\nport = 8007\n')
    s = load_settings(path, env={"PROXBALANCE_PROXMOX_HOST": "from-env", "PROXBALANCE_AUTH_ENABLED": "false",
                                 "PROXBALANCE_SERVER_CORS_ORIGINS": "https://a,https://b"})
    assert s["proxmox.host"] == "from-env" and s["proxmox.port"] == 8007
    assert s["auth.enabled"] is False
    assert s["server.cors_origins"] == ["https://a", "https://b"]
    assert s.source("proxmox.host") == "PROXBALANCE_PROXMOX_HOST"


def test_env_invalid_value_names_key():
    with pytest.raises(ConfigError, match="proxmox.port"):
        load_settings(env={"PROXBALANCE_PROXMOX_PORT": "eighty"})


def test_secret_references(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-secret\n")
    path = write(tmp_path, '[proxmox]\ntoken_secret = {"$env" = "PB_TEST_SECRET"}\n'
                           f'password = {{"$file" = "{secret_file}"}}\n')
    import os
    os.environ["PB_TEST_SECRET"] = "env-secret"
    try:
        s = load_settings(path, env={})
    finally:
        del os.environ["PB_TEST_SECRET"]
    assert s["proxmox.token_secret"] == "env-secret"
    assert s["proxmox.password"] == "file-secret"


def test_secret_reference_errors(tmp_path):
    with pytest.raises(ConfigError, match="PB_SURELY_UNSET"):
        load_settings(write(tmp_path, '[proxmox]\ntoken_secret = {"$env" = "PB_SURELY_UNSET"}\n'), env={})
    with pytest.raises(ConfigError, match="cannot read secret file"):
        load_settings(write(tmp_path, '[proxmox]\ntoken_secret = {"$file" = "/nonexistent/x"}\n'), env={})


def test_redaction_hides_every_secret():
    s = load_settings(env={}, overrides={"proxmox.token_secret": "s3cret", "proxmox.password": "pw",
                                         "notifications.urls": ["discord://id/token"],
                                         "auth.bootstrap_admin_key": "pb_x", "database.url": "sqlite:///x",
                                         "ai.openai_api_key": "sk-a", "ai.anthropic_api_key": "sk-b",
                                         "ai.ollama_api_key": "tok-c"})
    red = s.redacted()
    for setting in SETTINGS:
        if setting.secret:
            assert red[setting.name] == REDACTED, setting.name
    assert "s3cret" not in repr(red)
    assert red["proxmox.port"] == 8006  # non-secrets unchanged


def test_every_setting_has_help_and_valid_default():
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name
        # the default itself must pass validation
        load_settings(env={}, overrides={setting.name: setting.default})
    assert len(BY_NAME) == len(SETTINGS)  # no duplicate names
