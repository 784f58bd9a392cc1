"""Stateless JWT authentication that remembers the tokens it has verified."""

import time

from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.tokens import Token

MAX_REMEMBERED = 50_000
_verified: dict[bytes, Token] = {}


class CachedStatelessJWTAuthentication(JWTStatelessUserAuthentication):
    """simplejwt's stateless check (signature, expiry, claims; no user lookup), done once per
    token and process: a client sends the same access token with every request for its whole
    lifetime, and verifying it again cost more than the rest of a list read. Only the exact
    bytes of a token that passed are remembered, and only until it expires; anything else is
    verified in full."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _verified.get(raw_token)
        if token is not None and token.payload.get("exp", 0) > time.time():
            return token
        token = super().get_validated_token(raw_token)
        if len(_verified) >= MAX_REMEMBERED:
            _verified.clear()
        _verified[raw_token] = token
        return token
