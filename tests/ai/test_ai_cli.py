"""``proxbalance ai ask`` and ``proxbalance ai models`` against a local Ollama-protocol server."""

from __future__ import annotations

from proxbalance.cli import main
from proxbalance.config import load_settings
from proxbalance.store import Store
from proxbalance.store.snapshots import save_snapshot
from tests.ai.conftest import good_answer, snapshot
from tests.ai.fake_providers import FakeProvider


def test_ask_and_models(tmp_path, capsys):
    with FakeProvider("ollama", good_answer()) as fake:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n[ai]\nenabled = true\nprovider = "ollama"\n'
                       f'ollama_host = "{fake.base_url}"\nmax_retries = 0\n')
        store = Store.open(load_settings(cfg, env={}))
        with store.engine.begin() as conn:
            save_snapshot(conn, snapshot())
        store.close()
        assert main(["--config", str(cfg), "ai", "ask"]) == 0
        out = capsys.readouterr().out
        assert "pve1 is overloaded" in out and "100 web-0" in out and "pve1 -> pve3" in out
        assert main(["--config", str(cfg), "ai", "models", "ollama"]) == 0
        assert capsys.readouterr().out.strip() == "llama3.1:latest"
        fake.script = [{"status": 500}]
        assert main(["--config", str(cfg), "ai", "ask"]) == 1
        assert "unreachable" in capsys.readouterr().err
