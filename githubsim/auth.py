"""Who is calling: an App (JWT signed with its key), an installation token, or a person's token.

App JWTs are verified against the App's public key as GitHub does (RS256, `iss` = App id,
`exp` at most ten minutes after `iat`). Installation tokens expire; an expired or unknown
token is "Bad credentials".
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets

import jwt

from githubsim.model import App, GitHubState, Installation, User

#: An App's permission levels, weakest first.
LEVELS = ("none", "read", "write", "admin")


class AuthError(Exception):
    """GitHub would answer 401 with this message."""


@dataclasses.dataclass(frozen=True)
class Caller:
    kind: str  # "app", "installation", "user" or "anonymous"
    app: App | None = None
    installation: Installation | None = None
    user: User | None = None

    @property
    def actor(self) -> User | None:
        """Whom GitHub shows as having made a change."""
        if self.installation is not None:
            return self.installation.app.bot
        return self.user

    @property
    def rate_key(self) -> str:
        if self.installation is not None:
            return f"installation:{self.installation.id}"
        if self.app is not None:
            return f"app:{self.app.id}"
        return f"user:{self.user.id}" if self.user else "anonymous"


@dataclasses.dataclass
class Token:
    value: str
    expires_at: datetime.datetime | None
    installation_id: int | None = None
    user_login: str | None = None


class Authenticator:
    def __init__(self, state: GitHubState, *, token_lifetime: datetime.timedelta) -> None:
        self._state = state
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, Token] = {}

    def installation_token(self, installation: Installation) -> Token:
        token = Token(
            "ghs_" + secrets.token_hex(18),
            self._state.clock() + self.token_lifetime,
            installation_id=installation.id,
        )
        self.tokens[token.value] = token
        return token

    def user_token(self, login: str) -> str:
        token = Token("ghp_" + secrets.token_hex(18), None, user_login=login)
        self._state.user(login)
        self.tokens[token.value] = token
        return token.value

    def identify(self, authorization: str | None) -> Caller:
        if not authorization:
            return Caller("anonymous")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not credential:
            raise AuthError("Bad credentials")
        if credential.count(".") == 2 and scheme.lower() == "bearer":
            return Caller("app", app=self._verify_jwt(credential.strip()))
        token = self.tokens.get(credential.strip())
        if token is None:
            raise AuthError("Bad credentials")
        if token.expires_at is not None and token.expires_at <= self._state.clock():
            raise AuthError("Bad credentials")
        if token.installation_id is not None:
            installation = self._state.installations.get(token.installation_id)
            if installation is None or installation.suspended_at is not None:
                raise AuthError("Bad credentials")
            return Caller("installation", app=installation.app, installation=installation)
        return Caller("user", user=self._state.user(token.user_login or ""))

    def _verify_jwt(self, token: str) -> App:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            app = self._state.apps.get(int(claims.get("iss", 0)))
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError("A JSON web token could not be decoded") from exc
        if app is None:
            raise AuthError("Integration not found")
        now = self._state.clock().timestamp()
        try:
            verified = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(
                "'Expiration time' claim ('exp') must be a numeric value "
                "representing the future time at which the assertion expires"
            ) from exc
        except jwt.PyJWTError as exc:
            raise AuthError("A JSON web token could not be decoded") from exc
        if verified["exp"] - verified["iat"] > 660 or verified["iat"] > now + 60:
            raise AuthError("'Expiration time' claim ('exp') is too far in the future")
        return app


def allows(granted: str | None, needed: str) -> bool:
    return LEVELS.index(granted or "none") >= LEVELS.index(needed)
