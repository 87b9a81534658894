"""The App's identity and its GitHub clients: JWTs, installation tokens, rate limits, pacing."""

from __future__ import annotations

import asyncio
import datetime
import json
import sqlite3
from collections.abc import Mapping

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.github.auth import AppCredentials, CredentialsError, InstallationTokens
from bot.github.client import PoliteGitHubAPI, WritePacing, retry_delay

UTC = datetime.UTC


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


class ScriptedGitHub(PoliteGitHubAPI):
    """The real client with its transport replaced by scripted answers, sleeps recorded."""

    def __init__(self, answers, *, pacing=None, **kwargs):
        super().__init__(None, "test", pacing=pacing or WritePacing(interval=0), pace_key=1,
                         **kwargs)  # fmt: skip
        self.answers = list(answers)
        self.requests: list[tuple[str, str, Mapping[str, str]]] = []
        self.slept: list[float] = []

    async def _transport(self, method, url, headers, body=b""):
        self.requests.append((method, url, dict(headers)))
        status, extra_headers, payload = self.answers.pop(0)
        base = {"content-type": "application/json; charset=utf-8", **extra_headers}
        return status, base, json.dumps(payload).encode()

    async def sleep(self, seconds):
        self.slept.append(seconds)


def token_answer(token: str, expires_at: datetime.datetime):
    # The documented 201 of POST /app/installations/{installation_id}/access_tokens.
    return 201, {}, {
        "token": token,
        "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": {"issues": "write", "contents": "write"},
        "repository_selection": "all",
    }  # fmt: skip


def test_credentials_from_env_text_or_file(tmp_path, key_pair):
    pem, _ = key_pair
    one_line = pem.replace("\n", "\\n")  # how a key survives a one-line env var
    assert AppCredentials.load("42", one_line, None).private_key.strip() == pem.strip()
    path = tmp_path / "app.pem"
    path.write_text(pem)
    assert AppCredentials.load("42", None, str(path)).app_id == "42"
    with pytest.raises(CredentialsError, match="GITHUB_APP_ID"):
        AppCredentials.load(None, pem, None)
    with pytest.raises(CredentialsError, match="not both"):
        AppCredentials.load("42", pem, str(path))
    with pytest.raises(CredentialsError, match="not a PEM"):
        AppCredentials.load("42", "hunter2", None)
    with pytest.raises(CredentialsError, match="GITHUB_PRIVATE_KEY_PATH"):
        AppCredentials.load("42", None, str(tmp_path / "missing.pem"))
    assert pem not in repr(AppCredentials.load("42", pem, None))


def test_app_jwt_is_signed_with_the_key_and_short_lived(key_pair):
    pem, public = key_pair
    claims = jwt.decode(AppCredentials("42", pem).jwt(), public, algorithms=["RS256"])
    assert claims["iss"] == "42"
    assert claims["exp"] - claims["iat"] <= 600  # GitHub refuses App JWTs over 10 minutes


async def test_installation_tokens_are_cached_then_refreshed_before_expiry(key_pair):
    pem, public = key_pair
    now = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    clock = [now]
    tokens = InstallationTokens(AppCredentials("42", pem), clock=lambda: clock[0])
    gh = ScriptedGitHub([
        token_answer("ghs_first", now + datetime.timedelta(hours=1)),
        token_answer("ghs_second", now + datetime.timedelta(hours=2)),
    ])  # fmt: skip
    assert await tokens.token(gh, 7) == "ghs_first"
    clock[0] = now + datetime.timedelta(minutes=50)
    assert await tokens.token(gh, 7) == "ghs_first"  # still 10 minutes left: cached
    clock[0] = now + datetime.timedelta(minutes=56)
    assert await tokens.token(gh, 7) == "ghs_second"  # within 5 minutes of expiry: renewed
    assert [(m, u) for m, u, _ in gh.requests] == [
        ("POST", "https://api.github.com/app/installations/7/access_tokens")
    ] * 2
    bearer = gh.requests[0][2]["authorization"].removeprefix("bearer ").removeprefix("Bearer ")
    assert jwt.decode(bearer, public, algorithms=["RS256"])["iss"] == "42"


async def test_concurrent_callers_share_one_token_request_and_forget_drops_it(key_pair):
    pem, _ = key_pair
    later = datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    tokens = InstallationTokens(AppCredentials("42", pem))
    gh = ScriptedGitHub([token_answer("ghs_a", later), token_answer("ghs_b", later)])
    assert await asyncio.gather(*(tokens.token(gh, 9) for _ in range(10))) == ["ghs_a"] * 10
    assert len(gh.requests) == 1
    tokens.forget(9)  # the installation was suspended, or deleted and installed again
    assert await tokens.token(gh, 9) == "ghs_b"


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (403, {"retry-after": "30"}, "", 30.0),
        (429, {}, "", 60.0),
        (403, {}, "You have exceeded a secondary rate limit", 60.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"}, "", 11.0),
        (403, {}, "Resource not accessible by integration", None),
        (502, {}, "", 2.0),
        (404, {}, "", None),
    ],
)
def test_retry_delay(status, headers, message, expected):
    assert retry_delay(status, headers, message, attempt=2, now=1000.0) == expected


async def test_secondary_rate_limit_is_waited_out_and_retried():
    gh = ScriptedGitHub([
        (403, {"retry-after": "3"}, {"message": "You have exceeded a secondary rate limit."}),
        (502, {}, {"message": "Server Error"}),
        (200, {}, {"id": 1}),
    ])  # fmt: skip
    assert await gh.getitem("/repos/o/r/issues/1") == {"id": 1}
    assert gh.slept == [3.0, 2.0]


async def test_a_plain_forbidden_is_not_retried():
    from gidgethub import BadRequest

    gh = ScriptedGitHub([(403, {}, {"message": "Resource not accessible by integration"})])
    with pytest.raises(BadRequest):
        await gh.post("/repos/o/r/labels", data={"name": "x"})
    assert gh.slept == []


async def test_retries_stop_after_the_limit():
    from gidgethub import GitHubBroken

    gh = ScriptedGitHub([(503, {}, {"message": "busy"})] * 4, max_retries=3)
    with pytest.raises(GitHubBroken):
        await gh.getitem("/repos/o/r")
    assert gh.slept == [1.0, 2.0, 4.0]


async def test_writes_to_one_installation_are_paced_a_second_apart():
    clock = [100.0]
    pacing = WritePacing(interval=1.0, clock=lambda: clock[0])
    gh = ScriptedGitHub([(201, {}, {"name": f"l{n}"}) for n in range(3)] + [(200, {}, {})],
                        pacing=pacing)  # fmt: skip
    for n in range(3):
        await gh.post("/repos/o/r/labels", data={"name": f"l{n}"})
    await gh.getitem("/repos/o/r")  # reads are not paced
    assert gh.slept == [1.0, 2.0]  # slots at 100, 101, 102 reserved at clock 100


def test_a_burst_of_writes_never_passes_the_minute_s_secondary_limit():
    clock = [0.0]
    pacing = WritePacing(interval=0.0, clock=lambda: clock[0], per_minute=3)
    waits = [pacing.reserve(1) for _ in range(7)]  # all asked for at once
    assert waits == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 120.0]
    assert pacing.reserve(2) == 0.0  # another installation has a minute of its own
    clock[0] = 200.0  # long after: the window is free again
    assert [pacing.reserve(1) for _ in range(3)] == [0.0, 0.0, 0.0]


class Clocks:
    """One fake time for both of a pacer's clocks (its pacing clock and the wall clock)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def pacer(self, path, **kwargs) -> WritePacing:
        kwargs.setdefault("interval", 1.0)
        return WritePacing(clock=lambda: self.now, wall_clock=lambda: self.now, journal=path,
                           **kwargs)  # fmt: skip


def test_a_restarted_pacer_keeps_the_interval_and_the_minute_of_the_one_before(tmp_path):
    path = tmp_path / "pacing.sqlite3"
    t = Clocks(1000.0)
    before = t.pacer(path, per_minute=5)
    assert [before.reserve(1) for _ in range(3)] == [0.0, 1.0, 2.0]  # slots 1000, 1001, 1002
    t.now = 1010.0
    assert before.reserve(1) == 0.0  # slot 1010
    before.reserve("app")
    t.now = 1010.25  # killed (nothing closed), started again on the same file
    after = t.pacer(path, per_minute=5)
    # a second after the last slot, and the fifth write of the minute that began at 1000
    assert after.reserve(1) == 0.75
    assert after.reserve(1) == 1060.0 - 1010.25  # the sixth waits for the oldest to age out
    assert after.reserve(2) == 0.0  # another installation has a minute of its own
    assert after.reserve("app") == 0.75


def test_slots_older_than_the_minute_do_not_count_after_a_restart(tmp_path):
    path = tmp_path / "pacing.sqlite3"
    t = Clocks(1000.0)
    before = t.pacer(path, interval=0.0, per_minute=5)
    assert [before.reserve(1) for _ in range(3)] == [0.0] * 3
    t.now = 1030.0
    assert [before.reserve(1) for _ in range(2)] == [0.0] * 2
    t.now = 1070.0
    after = t.pacer(path, interval=0.0, per_minute=5)
    # the slots at 1000 are over a minute old; the two at 1030 still count
    assert [after.reserve(1) for _ in range(4)] == [0.0, 0.0, 0.0, 20.0]
    # rows older than the minute are deleted, not kept for ever
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM slots WHERE at < 1010").fetchone() == (0,)


def test_slots_a_killed_pacer_had_not_reached_do_not_hold_the_restart_back(tmp_path):
    path = tmp_path / "pacing.sqlite3"
    t = Clocks(1000.0)
    before = t.pacer(path, per_minute=4)
    assert [before.reserve(1) for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]  # slots 1000 … 1003
    t.now = 1001.5  # killed while writers waited for 1002 and 1003: those writes were not made
    after = t.pacer(path, per_minute=4)
    # a second after 1001, then the fourth write of the minute; the fifth waits for 1000 + 60
    assert [after.reserve(1) for _ in range(3)] == [0.5, 1.5, 58.5]


def test_the_journal_is_pruned_as_it_goes(tmp_path):
    path = tmp_path / "pacing.sqlite3"
    t = Clocks(1000.0)
    pacer = t.pacer(path, interval=0.0, per_minute=1000)
    for _ in range(2000):
        pacer.reserve(1)
        t.now += 1.0
    pacer.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM slots").fetchone()[0] <= 60 + 256


def test_a_corrupt_pacing_journal_leaves_pacing_in_memory(tmp_path, caplog):
    path = tmp_path / "pacing.sqlite3"
    path.write_bytes(b"not a database, " * 512)
    t = Clocks(1000.0)
    pacer = t.pacer(path, per_minute=2)
    assert [pacer.reserve(1) for _ in range(3)] == [0.0, 1.0, 60.0]
    assert "pacing in memory only" in caplog.text
    assert path.read_bytes() == b"not a database, " * 512


def test_an_unwritable_pacing_journal_leaves_pacing_in_memory(tmp_path, caplog):
    (tmp_path / "a-file").write_text("")
    t = Clocks(1000.0)
    pacer = t.pacer(tmp_path / "a-file" / "pacing.sqlite3", per_minute=2)
    assert [pacer.reserve(1) for _ in range(3)] == [0.0, 1.0, 60.0]
    assert "pacing in memory only" in caplog.text


def test_a_journal_failing_mid_run_warns_once_and_pacing_goes_on(tmp_path, caplog):
    path = tmp_path / "pacing.sqlite3"
    t = Clocks(1000.0)
    pacer = t.pacer(path, per_minute=3)
    assert pacer.reserve(1) == 0.0
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # the file locked by someone else: every write fails
    try:
        assert [pacer.reserve(1) for _ in range(3)] == [1.0, 2.0, 60.0]
        assert [pacer.reserve(2) for _ in range(2)] == [0.0, 1.0]
    finally:
        other.execute("ROLLBACK")
        other.close()
    warnings = [r for r in caplog.records if "pacing in memory only" in r.getMessage()]
    assert len(warnings) == 1


def test_serve_refuses_a_half_configured_app_identity(capsys, tmp_path):
    from bot import cli

    code = cli.main(["serve"], environ={"GITHUB_WEBHOOK_SECRET": "s3cret-value",
                                        "GITHUB_APP_ID": "42",
                                        "ORCHESTRATOR_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert code == 2
    assert "GITHUB_PRIVATE_KEY" in capsys.readouterr().err


async def test_the_app_holds_github_clients_for_its_lifetime(aiohttp_client, tmp_path, key_pair):
    from bot.settings import Settings
    from bot.web.app import create_app
    from bot.web.keys import GITHUB

    pem, _ = key_pair
    settings = Settings(webhook_secret="s3cret-value", data_dir=tmp_path, app_id="42",
                        private_key=pem, github_api_url="http://127.0.0.1:9")  # fmt: skip
    client = await aiohttp_client(create_app(settings, routers=[]))
    github = client.app[GITHUB]
    app_client = github.app()
    assert app_client.base_url == "http://127.0.0.1:9"  # GITHUB_API_URL honoured
    assert app_client.app_id == "42"
    assert (tmp_path / "pacing.sqlite3").exists()  # the write pacing's window survives a restart


async def test_an_exhausted_quota_is_waited_out_before_the_next_request(monkeypatch):
    monkeypatch.setattr("bot.github.client.time.time", lambda: 1000.0)
    gh = ScriptedGitHub([
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}, {"id": 1}),
        (200, {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": "4600"}, {"id": 2}),
        (200, {}, {"id": 3}),
    ])  # fmt: skip
    await gh.getitem("/repos/o/r")
    await gh.getitem("/repos/o/r")  # GitHub said 0 left: wait for the reset first
    await gh.getitem("/repos/o/r")  # quota back: no wait
    assert gh.slept == [31.0]
