from django.urls import path
from rest_framework import status
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.apis import UserMeApi, UserRegisterApi
from accounts.tokens import PicksTokenObtainPairSerializer, PicksTokenRefreshSerializer


class LockedOut(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many failed logins for this account or address: try again later."
    default_code = "locked_out"


class LoginApi(TokenObtainPairView):
    """A JWT pair for a username and password. Failed attempts count per account and per
    address (django-axes): past the limit even the right password is refused for a while."""

    serializer_class = PicksTokenObtainPairSerializer
    throttle_scope = "auth"

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed as exc:
            if getattr(request, "axes_locked_out", False):  # set by axes' backend
                raise LockedOut from exc
            raise


class RefreshApi(TokenRefreshView):
    serializer_class = PicksTokenRefreshSerializer
    throttle_scope = "auth"


urlpatterns = [
    path("register/", UserRegisterApi.as_view(), name="register"),
    path("token/", LoginApi.as_view(), name="token"),
    path("token/refresh/", RefreshApi.as_view(), name="token-refresh"),
    path("me/", UserMeApi.as_view(), name="me"),
]
