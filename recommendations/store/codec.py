"""How lists, cards and job metadata are encoded in Redis values."""

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from recommendations.store.keys import BOUGHT_TOGETHER, DECK, GLOBAL, SIMILAR, TOP_BUYS

# Where an entry came from, stored as one byte per entry.
SOURCES = ("als", "mf", "explore", "popular", "basket", "content", "similar", "bias")
FAMILY_SOURCE = {
    TOP_BUYS: "als",
    GLOBAL: "popular",
    BOUGHT_TOGETHER: "basket",
    DECK: "mf",
    SIMILAR: "similar",
}
# A ranked list is one string of these records, best first: one SET writes it, one GETRANGE
# reads its head. `because` is the item the user liked or bought that contributed most to the
# entry (0: none), computed with the list so that a read does no work for it.
RECORD = np.dtype([("item", "<i8"), ("score", "<f4"), ("source", "u1"), ("because", "<i8")])
VECTOR = np.dtype("<f4")


class Entry(NamedTuple):
    """One entry of a list (a tuple: a page makes up to a hundred of these per request)."""

    item_id: int
    score: float
    source: str = ""
    because: int | None = None


def source_code(name: str) -> int:
    return SOURCES.index(name)


def pack(
    item_ids: npt.ArrayLike,
    scores: npt.ArrayLike,
    sources: npt.ArrayLike | int,
    because: npt.ArrayLike | int = 0,
) -> npt.NDArray:
    """Records of one list (or of a rows x n block of lists)."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    records = np.empty(item_ids.shape, dtype=RECORD)
    records["item"], records["score"], records["source"] = item_ids, scores, sources
    records["because"] = because
    return records


def packed_rows(
    owners: npt.NDArray[np.int64],
    item_ids: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    sources: npt.ArrayLike | int,
    because: npt.ArrayLike | int = 0,
) -> Iterator[tuple[int, bytes]]:
    """(owner, packed list) per row of (owners x n) arrays whose ids are not all padding
    (-1 pads a row's end); what a publication stores, wherever it is written from."""
    records = pack(item_ids, scores, sources, because)
    lengths = (np.asarray(item_ids) >= 0).sum(axis=1)
    for owner, row, length in zip(owners.tolist(), records, lengths.tolist(), strict=True):
        if length:
            yield owner, row[:length].tobytes()


def unpack(blob: bytes | None, *, limit: int) -> list[Entry]:
    """Entries of a packed list (none for a missing key)."""
    if not blob:
        return []
    records = np.frombuffer(blob, dtype=RECORD, count=min(limit, len(blob) // RECORD.itemsize))
    return [
        Entry(item, score, SOURCES[source], because or None)
        for item, score, source, because in records.tolist()
    ]


def unpack_pairs(flat: bytes, *, source: str) -> list[Entry]:
    """Entries of a sorted set read as 'id score' lines."""
    pairs = (line.split(b" ") for line in flat.split(b"\n"))
    return [Entry(int(i), float(s), source) for i, s in pairs]


def encode_json(value: object) -> bytes:
    """Cards and job metadata (orjson escapes newlines inside strings, so cards can be joined
    by newlines)."""
    return orjson.dumps(value)


def decode_meta(raw: bytes | None) -> dict:
    """A version's stored job metadata; empty when none was stored."""
    return orjson.loads(raw) if raw else {}


def split_cards(joined: bytes) -> list[bytes]:
    return joined.split(b"\n") if joined else []


def vectors(rows: npt.ArrayLike) -> Iterable[bytes]:
    for row in np.ascontiguousarray(rows, dtype=VECTOR):
        yield row.tobytes()
