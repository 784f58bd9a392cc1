"""HTTP caching of API answers (nothing is cached unless a view says so, and nothing is shared
between callers with different tokens), and the short way through for stateless views."""

from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve
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


@lru_cache(maxsize=10_000)
def _resolve(path: str, urlconf: str) -> ResolverMatch:
    """The URL's view, remembered per path (an unknown path raises Resolver404 and is not
    remembered); resolving walks every pattern, a tenth of a list read."""
    return resolve(path, urlconf)


class StatelessViewMiddleware:
    """Calls views marked `stateless` (a bearer token or nothing: no cookie, session, CSRF
    token, Django user or flash message) straight from here, past the middleware listed after
    this one; every other request goes on down the list. The middleware before it (security
    headers, CORS, the API's cache headers, X-Frame-Options) still sees every response, the
    Host is still checked against ALLOWED_HOSTS, and exceptions are still turned into the
    usual error responses by the handler. The list reads are such views: the session, auth,
    message and CSRF layers cost them about 15 % of a request (in-process, docs/benchmarks.md)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            match = _resolve(request.path_info, settings.ROOT_URLCONF)
        except Resolver404:
            return self.get_response(request)
        if not getattr(match.func, "stateless", False):
            return self.get_response(request)
        request.get_host()  # DisallowedHost (a 400) as CommonMiddleware would raise it
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        if callable(getattr(response, "render", None)):  # a DRF error answer
            response = response.render()
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response
