"""Checks on uploaded item images (the decoding itself is Pillow's, through ImageField)."""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

IMAGE_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}


def validate_item_image(image: UploadedFile) -> UploadedFile:
    """At most MAX_IMAGE_BYTES and MAX_IMAGE_PIXELS (a small file can hold a huge picture
    that every client would have to decode), in a format browsers show everywhere."""
    limit = settings.MAX_IMAGE_BYTES
    if image.size > limit:
        raise serializers.ValidationError(f"The image is larger than {limit // 1024} KiB.")
    decoded = getattr(image, "image", None)  # set by ImageField after Pillow verified it
    if decoded is None or decoded.format not in IMAGE_FORMATS:
        names = ", ".join(IMAGE_FORMATS.values())
        raise serializers.ValidationError(f"Upload a {names} image.")
    width, height = decoded.size  # from the header: nothing is decoded to know it
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise serializers.ValidationError(
            f"The image has {width} x {height} pixels; at most "
            f"{settings.MAX_IMAGE_PIXELS // 1_000_000} megapixels are taken."
        )
    return image
