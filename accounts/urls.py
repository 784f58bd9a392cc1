from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.apis import UserMeApi, UserRegisterApi
from accounts.tokens import PicksTokenObtainPairSerializer, PicksTokenRefreshSerializer


class LoginApi(TokenObtainPairView):
    serializer_class = PicksTokenObtainPairSerializer
    throttle_scope = "auth"


class RefreshApi(TokenRefreshView):
    serializer_class = PicksTokenRefreshSerializer
    throttle_scope = "auth"


urlpatterns = [
    path("register/", UserRegisterApi.as_view(), name="register"),
    path("token/", LoginApi.as_view(), name="token"),
    path("token/refresh/", RefreshApi.as_view(), name="token-refresh"),
    path("me/", UserMeApi.as_view(), name="me"),
]
