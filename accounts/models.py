from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A shopper, a shop backend (service account) or staff."""

    external_id = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text="The shop's own customer id; imported orders and events map to it.",
    )
    is_service = models.BooleanField(
        default=False,
        help_text="A shop backend that may push events and orders for any user.",
    )

    def __str__(self) -> str:
        return self.username
