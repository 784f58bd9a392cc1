"""The answer to a login attempt on an account or from an address that axes has locked out."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = JsonResponse(
        {
            "detail": f"Too many failed logins: try again in {minutes} minutes.",
            "code": "locked_out",
        },
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
