"""The app's URLs plus a bare view, for bench/load.py only (set ROOT_URLCONF=bench_urls)."""

from django.conf import settings
from django.urls import path
from django_redis import get_redis_connection
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from config.urls import urlpatterns as app_urls


class BareRedisGetApi(APIView):
    """What the framework alone costs: stateless JWT auth, one Redis GET, a JSON answer."""

    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request: Request) -> Response:
        value = get_redis_connection("default").get(f"{settings.PICKS_REDIS_PREFIX}:bare")
        return Response({"value": value.decode() if value else None})


urlpatterns = [path("bench/bare/", BareRedisGetApi.as_view()), *app_urls]
