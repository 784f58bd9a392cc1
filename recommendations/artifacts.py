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


def companion(name: str, part: str) -> str:
    """The name of an artifact stored beside `name` for the same run (kept and pruned with it):
    what only the next training run reads, so that readers of the main one never load it."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.{part}.{suffix}"


def save_companion(name: str, part: str, obj: object) -> str:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _storage().save(companion(name, part), ContentFile(data))


def _owner(name: str) -> str:
    """The main artifact a stored name belongs to (itself, or the one it is a companion of)."""
    folder, _, base = name.rpartition("/")
    parts = base.split(".")
    return name if len(parts) <= 2 else f"{folder}/{parts[0]}.{parts[-1]}"


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
    """Delete the stored artifacts of `kind` not in `keep` (nor companions of one in it);
    their names come back."""
    gone = [name for name in stored(kind) if _owner(name) not in keep]
    storage = _storage()
    for name in gone:
        storage.delete(name)
    return gone
