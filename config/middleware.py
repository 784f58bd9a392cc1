"""HTTP caching of API answers: nothing is cached unless a view says so, and nothing is shared
between callers with different tokens."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers


class ApiCacheHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            # A guest's public list and a user's personal one share a URL.
            patch_vary_headers(response, ("Authorization",))
            if not response.has_header("Cache-Control"):
                response["Cache-Control"] = "private, no-store"
        return response
