"""JWTs that carry the role claims, so recommendation reads need no database lookup."""

from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
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
