import unicodedata

from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import User


class UsernameTaken(Exception):
    """The username is already registered."""


def canonical_username(username: str) -> str:
    """The form two names are compared in: NFKC-normalised, case folded."""
    return unicodedata.normalize("NFKC", username).casefold()


def login_key(request: HttpRequest, credentials: dict | None) -> str | None:
    """The account a login attempt counts against (axes): case and width variants are one."""
    username = (credentials or {}).get("username")
    if username is None:
        username = request.POST.get("username") if hasattr(request, "POST") else None
    return canonical_username(str(username)) if username else None


def register_user(*, username: str, password: str, email: str = "") -> User:
    """Create a shopper account after the password validators agree; the name is stored
    NFKC-normalised and is taken if any case variant of it is (a unique index decides races)."""
    username = User.normalize_username(username)
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTaken(username)
    user = User(username=username, email=email)
    validate_password(password, user=user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration of a case variant won
        raise UsernameTaken(username) from exc
    return user
