from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


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

    class Meta(AbstractUser.Meta):
        constraints = [
            # Names are stored NFKC-normalised (Django's normalize_username): with this, "Ann",
            # "ann" and its fullwidth look-alike are one name, also under concurrent registrations.
            models.UniqueConstraint(Lower("username"), name="username_unique_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.username
