"""Pickled model artifacts in and out of Django's "artifacts" storage (a local folder that no
URL serves, or S3), each database's in a folder of its own."""

import hashlib
import pickle

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import connection
from django.utils import timezone


class ArtifactMissing(Exception):
    """The named artifact is not in storage."""


def _storage() -> Storage:
    return storages["artifacts"]


def _folder(kind: str) -> str:
    """Where this database's artifacts of a kind live: a demo on SQLite and a PostgreSQL
    instance in one checkout (or two instances on one bucket) never list or prune each
    other's files."""
    db = connection.settings_dict
    identity = f"{connection.vendor}|{db['HOST']}|{db['PORT']}|{db['NAME']}"
    namespace = f"{connection.vendor}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    return f"{settings.ARTIFACT_PREFIX}/{namespace}/{kind}"


def save(*, kind: str, obj: object) -> str:
    """Pickle `obj` under a new, time-stamped name; the stored name comes back."""
    return save_bytes(
        kind=kind, data=pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), suffix="pkl"
    )


def save_bytes(*, kind: str, data: bytes, suffix: str) -> str:
    """Store `data` under a new, time-stamped name; the stored name comes back."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    return _storage().save(f"{_folder(kind)}/{kind}-{stamp}.{suffix}", ContentFile(data))


def load(name: str) -> object:
    """Unpickle a stored artifact. Only artifacts this service wrote are ever loaded."""
    return pickle.loads(load_bytes(name))  # our own artifacts, never user uploads


def load_bytes(name: str) -> bytes:
    """The stored bytes of an artifact."""
    storage = _storage()
    if not name or not storage.exists(name):
        raise ArtifactMissing(name)
    with storage.open(name, "rb") as f:
        return f.read()


def readable(name: str) -> bool:
    """Whether the artifact is there and unpickles."""
    try:
        load(name)
    except Exception:  # missing, truncated or from an incompatible version: all unusable
        return False
    return True


def delete(name: str) -> None:
    """Remove an artifact that no model run refers to any more."""
    storage = _storage()
    if name and storage.exists(name):
        storage.delete(name)


def stored(kind: str) -> list[str]:
    """Names of every stored artifact of one kind, oldest first (names carry a time stamp)."""
    folder = _folder(kind)
    try:
        _, files = _storage().listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(f"{folder}/{name}" for name in files)


def prune(kind: str, *, keep: set[str]) -> list[str]:
    """Delete the stored artifacts of `kind` not in `keep`; their names come back."""
    gone = [name for name in stored(kind) if name not in keep]
    storage = _storage()
    for name in gone:
        storage.delete(name)
    return gone
