"""The app's URLs plus a bare view, for bench/load.py only (set ROOT_URLCONF=bench_urls)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from config.urls import urlpatterns as app_urls
from recommendations import store


class BareRedisGetApi(APIView):
    """What the framework alone costs: stateless JWT auth, one Redis GET, a JSON answer."""

    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request: Request) -> Response:
        value = store.client().get(store.keys.key("bare"))
        return Response({"value": value.decode() if value else None})


def stateless_bare_view() -> object:
    """The bare view called past the session, auth, message and CSRF middleware, as the list
    views are (config.middleware.StatelessViewMiddleware)."""
    view = BareRedisGetApi.as_view()
    view.stateless = True
    return view


def plain_redis_get(request: HttpRequest) -> JsonResponse:
    """The framework's floor: a plain Django view, one Redis GET, the same JSON (no DRF, no
    token check)."""
    value = store.client().get(store.keys.key("bare"))
    return JsonResponse({"value": value.decode() if value else None})


urlpatterns = [
    path("bench/bare/", BareRedisGetApi.as_view()),
    path("bench/bare-stateless/", stateless_bare_view()),
    path("bench/plain/", plain_redis_get),
    *app_urls,
]
