"""Who the client is: the peer address, unless trusted proxies in front say otherwise."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR; behind `TRUSTED_PROXIES` proxies, the address the outermost of them saw
    (that many entries from the right of X-Forwarded-For). What a client writes into the
    header itself sits further left and is never read. The same rule as DRF's NUM_PROXIES."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    return hops[-min(proxies, len(hops))] or remote
