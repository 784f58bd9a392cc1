from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def acts_for_others(user: object) -> bool:
    """True for staff and service accounts, who may act for any user.

    Works for database users and for simplejwt's stateless TokenUser, whose `is_staff` and
    `is_service` come from the token's claims (see accounts.tokens).
    """
    return bool(
        getattr(user, "is_authenticated", False)
        and (getattr(user, "is_staff", False) or getattr(user, "is_service", False))
    )


class IsStaffOrService(BasePermission):
    """Staff or a shop backend's service account."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return acts_for_others(request.user)
