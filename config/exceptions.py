"""One exception handler: every API error is a JSON body with `detail` and `code`."""

import logging

from django.db import IntegrityError, InterfaceError, OperationalError
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def json_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's answer with a stable shape; 503 for an unreachable store or database, 409 for a
    uniqueness race lost to a concurrent write."""
    if isinstance(exc, RedisError):
        logger.warning("redis unavailable: %s", exc)
        return Response(
            {"detail": "The recommendation store is unavailable.", "code": "store_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, OperationalError | InterfaceError):  # cannot connect, connection lost
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"detail": "The database is unavailable.", "code": "database_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, IntegrityError):  # a concurrent write won a uniqueness race
        return Response(
            {"detail": "This conflicts with something already stored.", "code": "conflict"},
            status=status.HTTP_409_CONFLICT,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": exc.detail}
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {
            **response.data,
            "detail": str(detail),
            "code": getattr(detail, "code", "error"),
        }
    return response
