"""Pickled model artifacts in and out of Django's default storage (local var/ or S3)."""

import pickle

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone


class ArtifactMissing(Exception):
    """The named artifact is not in storage."""


def save(*, kind: str, obj: object) -> str:
    """Pickle `obj` under a new, time-stamped name; the stored name comes back."""
    return save_bytes(
        kind=kind, data=pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), suffix="pkl"
    )


def save_bytes(*, kind: str, data: bytes, suffix: str) -> str:
    """Store `data` under a new, time-stamped name; the stored name comes back."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    return default_storage.save(
        f"{settings.ARTIFACT_PREFIX}/{kind}/{kind}-{stamp}.{suffix}", ContentFile(data)
    )


def load(name: str) -> object:
    """Unpickle a stored artifact. Only artifacts this service wrote are ever loaded."""
    return pickle.loads(load_bytes(name))  # our own artifacts, never user uploads


def load_bytes(name: str) -> bytes:
    """The stored bytes of an artifact."""
    if not name or not default_storage.exists(name):
        raise ArtifactMissing(name)
    with default_storage.open(name, "rb") as f:
        return f.read()


def delete(name: str) -> None:
    """Remove an artifact that no model run refers to any more."""
    if name and default_storage.exists(name):
        default_storage.delete(name)


def stored(kind: str) -> list[str]:
    """Names of every stored artifact of one kind, oldest first (names carry a time stamp)."""
    folder = f"{settings.ARTIFACT_PREFIX}/{kind}"
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(f"{folder}/{name}" for name in files)


def prune(kind: str, *, keep: set[str]) -> list[str]:
    """Delete the stored artifacts of `kind` not in `keep`; their names come back."""
    gone = [name for name in stored(kind) if name not in keep]
    for name in gone:
        default_storage.delete(name)
    return gone
