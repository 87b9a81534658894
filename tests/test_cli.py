"""The `orchestrator` command as an operator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import orjson
import pytest

from bot import cli
from bot.intake import store
from bot.intake.delivery import Incoming
from bot.settings import Settings, SettingsError
from tests.support import ROOT, delivery_headers


@pytest.fixture
def journal_dir(tmp_path):
    conn = store.connect(tmp_path / "journal.sqlite3")
    for n in range(3):
        payload = {"action": "created", "repository": {"id": 1, "full_name": "o/r"}, "n": n}
        store.insert(
            conn,
            Incoming(
                f"guid-{n}",
                "issue_comment",
                "created",
                "o/r",
                4,
                "repo:1",
                orjson.dumps(payload),
            ),
            now=1_700_000_000.0 + n,
        )
    store.mark_done(conn, 1, 1, now=1_700_000_100.0)
    store.mark_dead(conn, 2, 5, "HTTPException: 502 Bad Gateway", now=1_700_000_100.0)
    conn.close()
    return tmp_path


def run(capsys, journal_dir, *argv):
    code = cli.main(["deliveries", *argv], environ={"ORCHESTRATOR_DATA_DIR": str(journal_dir)})
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_newest_first_and_filters_by_state(capsys, journal_dir):
    code, out, _ = run(capsys, journal_dir, "list")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:5] == ["SEQ", "DELIVERY", "EVENT", "REPOSITORY", "STATE"]
    assert [r.split()[1] for r in rows[1:]] == ["guid-2", "guid-1", "guid-0"]
    code, out, _ = run(capsys, journal_dir, "list", "--state", "dead", "--json")
    [dead] = [json.loads(line) for line in out.splitlines()]
    assert dead["delivery_id"] == "guid-1" and dead["last_error"].startswith("HTTPException")
    assert dead["event"] == "issue_comment.created"


def test_show_prints_the_record_and_payload(capsys, journal_dir):
    code, out, _ = run(capsys, journal_dir, "show", "guid-1", "--payload")
    assert code == 0
    assert "state: dead" in out and "attempts: 5" in out and '"n": 1' in out
    code, _, err = run(capsys, journal_dir, "show", "nope")
    assert code == 1 and "no delivery 'nope'" in err


def test_replay_requeues_a_dead_delivery_and_refuses_a_pending_one(capsys, journal_dir):
    code, out, _ = run(capsys, journal_dir, "replay", "guid-1")
    assert code == 0 and "queued again" in out
    code, out, _ = run(capsys, journal_dir, "list", "--state", "pending", "--json")
    assert {json.loads(line)["delivery_id"] for line in out.splitlines()} == {"guid-1", "guid-2"}
    code, _, err = run(capsys, journal_dir, "replay", "guid-2")
    assert code == 1 and "still pending" in err


def test_purge_removes_only_dead_deliveries(capsys, journal_dir):
    code, out, _ = run(capsys, journal_dir, "purge", "--dead")
    assert code == 0 and out == "purged 1 dead delivery\n"
    code, out, _ = run(capsys, journal_dir, "list", "--json")
    assert {json.loads(line)["state"] for line in out.splitlines()} == {"pending", "done"}
    with pytest.raises(SystemExit):  # purge without --dead is refused by the parser
        run(capsys, journal_dir, "purge")


def test_deliveries_without_a_journal_says_where_it_looked(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / "empty", "list")
    assert code == 1 and "no journal at" in err


def test_serve_refuses_to_start_without_a_secret_and_names_the_variables(capsys, tmp_path):
    code = cli.main(["serve"], environ={"ORCHESTRATOR_DATA_DIR": str(tmp_path)})
    err = capsys.readouterr().err
    assert code == 2
    assert "GITHUB_WEBHOOK_SECRET" in err and "orchestrator serve --dev" in err


def test_bad_settings_are_listed_together(capsys):
    code = cli.main(
        ["serve"],
        environ={
            "ORCHESTRATOR_PORT": "http",
            "ORCHESTRATOR_MAX_ATTEMPTS": "0",
            "GITHUB_API_URL": "api.github.com",
        },
    )
    err = capsys.readouterr().err
    assert code == 2
    for name in ("ORCHESTRATOR_PORT", "ORCHESTRATOR_MAX_ATTEMPTS", "GITHUB_API_URL"):
        assert name in err


def test_settings_defaults_and_environment():
    defaults = Settings.from_env({})
    assert defaults.github_api_url == "https://api.github.com"
    assert str(defaults.data_dir) == ".orchestrator" and defaults.webhook_path == "/webhooks"
    assert defaults.max_attempts == 5
    assert defaults.writes_per_minute == 75  # under GitHub's secondary limit of about 80
    custom = Settings.from_env(
        {
            "GITHUB_WEBHOOK_SECRET": "s3cret-value",
            "GITHUB_API_URL": "https://ghe.example/api/v3/",
            "ORCHESTRATOR_PORT": "9000",
            "ORCHESTRATOR_WRITES_PER_MINUTE": "600",
        }
    )
    assert custom.github_api_url == "https://ghe.example/api/v3" and custom.port == 9000
    assert custom.writes_per_minute == 600
    assert "s3cret-value" not in repr(custom)
    with pytest.raises(SettingsError):
        Settings.from_env({"ORCHESTRATOR_WEBHOOK_PATH": "webhooks"})
    with pytest.raises(SettingsError, match="ORCHESTRATOR_WRITES_PER_MINUTE"):
        Settings.from_env({"ORCHESTRATOR_WRITES_PER_MINUTE": "0"})


def test_dev_secret_is_created_once_owner_only_and_reused(tmp_path):
    path = tmp_path / "data" / "dev-webhook-secret"
    secret, created = cli.ensure_dev_secret(path)
    assert created and len(secret) == 64
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert cli.ensure_dev_secret(path) == (secret, False)


def test_serve_dev_prints_the_secret_once_and_serves(tmp_path, unused_tcp_port):
    """`orchestrator serve --dev` on a fresh machine: a secret, a server, a signed delivery."""
    env = {**os.environ, "ORCHESTRATOR_DATA_DIR": str(tmp_path)}
    env.pop("GITHUB_WEBHOOK_SECRET", None)
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--dev", "--port", str(unused_tcp_port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = [proc.stdout.readline() for _ in range(2)]
            secret = (tmp_path / "dev-webhook-secret").read_text().strip()
            body = b'{"zen": "Design for failure."}'
            for _ in range(100):
                try:
                    req = urllib.request.Request(
                        f"http://127.0.0.1:{unused_tcp_port}/webhooks",
                        data=body,
                        headers=delivery_headers("ping", body, secret=secret),
                    )
                    status = urllib.request.urlopen(req, timeout=5).status
                    break
                except OSError:
                    time.sleep(0.1)
            assert status in (200, 202)
        finally:
            proc.terminate()
            proc.wait(10)
        outputs.append("".join(lines))
    assert secret in outputs[0]
    assert secret not in outputs[1] and "Using the development webhook secret" in outputs[1]


def test_the_web_process_does_not_import_llm_sdks():
    code = (
        "import sys; from bot import cli; from bot.web.app import create_app;"
        "from bot.settings import Settings;"
        "create_app(Settings(webhook_secret='x'));"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'anthropic', 'openai'});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
