import uuid
from pathlib import PurePath

from django.db import models

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})


def item_image_path(instance: "Item", filename: str) -> str:
    """A safe, unguessable name: the client's file name is never used, and its suffix only
    when it is an image suffix (a file named .html is never served as a page)."""
    suffix = PurePath(filename).suffix.lower()
    return f"items/{uuid.uuid4().hex}{suffix if suffix in IMAGE_SUFFIXES else ''}"


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    sku = models.CharField(max_length=64, unique=True, help_text="The shop's own item id.")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    brand = models.CharField(max_length=100, blank=True, db_index=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    colour = models.CharField(max_length=50, blank=True)
    sizes = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    image = models.ImageField(upload_to=item_image_path, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["price"]), models.Index(fields=["is_active", "category"])]

    def __str__(self) -> str:
        return f"{self.sku} {self.title}"
