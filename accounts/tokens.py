"""JWTs that carry the role claims, so recommendation reads need no database lookup."""

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User


class _NamesAUser:
    """A validly signed token is still refused unless it names a user by a positive id (a
    string or null there made every lookup fail with a 500)."""

    def verify(self) -> None:
        super().verify()
        value = self.payload.get(api_settings.USER_ID_CLAIM)
        if isinstance(value, bool) or not (
            (isinstance(value, int) and value > 0)
            or (isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0)
        ):
            raise TokenError("Token names no user")


class PicksAccessToken(_NamesAUser, AccessToken):
    """The access token the API accepts (SIMPLE_JWT["AUTH_TOKEN_CLASSES"])."""


class PicksRefreshToken(_NamesAUser, RefreshToken):
    """A refresh token (and its access tokens) with `is_staff` and `is_service` claims."""

    access_token_class = PicksAccessToken

    @classmethod
    def for_user(cls, user: User) -> "PicksRefreshToken":
        token = super().for_user(user)
        token["is_staff"] = user.is_staff
        token["is_service"] = user.is_service
        return token


class PicksTokenObtainPairSerializer(TokenObtainPairSerializer):
    token_class = PicksRefreshToken


class PicksTokenRefreshSerializer(TokenRefreshSerializer):
    """A new access token whose role claims are read from the database now, not copied from
    the refresh token: a demoted service account or staff member loses the role within one
    access-token lifetime, and a deleted or deactivated account gets a 401."""

    token_class = PicksRefreshToken

    def validate(self, attrs: dict) -> dict:
        try:
            refresh = self.token_class(attrs["refresh"])
        except TokenError as exc:
            raise AuthenticationFailed(str(exc), "token_not_valid") from exc
        user = User.objects.filter(
            pk=int(refresh.payload[api_settings.USER_ID_CLAIM]), is_active=True
        ).first()
        if user is None:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            )
        refresh["is_staff"], refresh["is_service"] = user.is_staff, user.is_service
        return {"access": str(refresh.access_token)}
