"""The App's identity and its GitHub clients: JWTs, installation tokens, rate limits, pacing."""

from __future__ import annotations

import asyncio
import datetime
import json
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
