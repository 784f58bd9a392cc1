"""JWTs that carry the role claims, so recommendation reads need no database lookup."""

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User


class PicksRefreshToken(RefreshToken):
    """A refresh token (and its access tokens) with `is_staff` and `is_service` claims."""

    @classmethod
    def for_user(cls, user: User) -> "PicksRefreshToken":
        token = super().for_user(user)
        token["is_staff"] = user.is_staff
        token["is_service"] = user.is_service
        return token


class PicksTokenObtainPairSerializer(TokenObtainPairSerializer):
    token_class = PicksRefreshToken


class PicksTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, with a deleted account refused as 401 (simplejwt lets the lookup's
    DoesNotExist escape as a 500)."""

    token_class = PicksRefreshToken

    def validate(self, attrs: dict) -> dict:
        try:
            return super().validate(attrs)
        except User.DoesNotExist as exc:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from exc
