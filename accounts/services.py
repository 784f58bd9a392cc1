from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from accounts.models import User


class UsernameTaken(Exception):
    """The username is already registered."""


@transaction.atomic
def register_user(*, username: str, password: str, email: str = "") -> User:
    """Create a shopper account after the password validators agree."""
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTaken(username)
    user = User(username=username, email=email)
    validate_password(password, user=user)
    user.set_password(password)
    user.save()
    return user
