"""Aggregated (user, item) scores as sorted arrays: kept between training runs, so that only
the rows changed since have to be read and merged in."""

import io
import zipfile
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

_ITEM_BITS = 32


def pair_keys(user_ids: npt.ArrayLike, item_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """One int64 per (user, item) that sorts like the pair; ids must fit (users < 2**31,
    items < 2**32; database ids stay far below that)."""
    users, items = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
    if len(users) and (
        users.min() < 0 or users.max() >= 2**31 or items.min() < 0 or items.max() >= 2**32
    ):
        raise ValueError("ids out of the range a pair key holds")
    return (users << _ITEM_BITS) | items


@dataclass(frozen=True)
class ScoreRows:
    """The (user, item) pairs with a positive score or a purchase, one row each, sorted by
    user then item (unsorted only when ids are too large for pair keys). `times` is when the
    pair was last active, in Unix seconds; `bought` whether the user bought the item."""

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    times: npt.NDArray[np.float64]
    bought: npt.NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        user_ids: npt.ArrayLike,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        times: npt.ArrayLike,
        bought: npt.ArrayLike,
    ) -> "ScoreRows":
        """Rows in any order (each pair once), sorted; pairs with neither a positive score
        nor a purchase are left out."""
        columns = _typed(user_ids, item_ids, scores, times, bought)
        keep = (columns[2] > 0) | columns[4]
        columns = [column[keep] for column in columns]
        order = np.argsort(pair_keys(columns[0], columns[1]), kind="stable")
        return cls(*(column[order] for column in columns))

    def columns(self) -> list[npt.NDArray]:
        return [getattr(self, field.name) for field in fields(self)]

    def __len__(self) -> int:
        return len(self.scores)

    def keys(self) -> npt.NDArray[np.int64]:
        return pair_keys(self.user_ids, self.item_ids)

    def merged(
        self,
        user_ids: npt.ArrayLike,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        times: npt.ArrayLike,
        bought: npt.ArrayLike,
    ) -> "ScoreRows":
        """These rows with the given changed rows in place of their pairs' old values (a
        changed pair with neither a positive score nor a purchase leaves)."""
        changed = pair_keys(user_ids, item_ids)
        if not len(changed):
            return self
        keys = self.keys()
        pos = np.searchsorted(keys, changed).clip(max=max(len(keys) - 1, 0))
        keep = np.ones(len(keys), bool)
        if len(keys):
            keep[pos[keys[pos] == changed]] = False
        fresh = ScoreRows.of(user_ids, item_ids, scores, times, bought)
        combined = [
            np.concatenate([old[keep], new])
            for old, new in zip(self.columns(), fresh.columns(), strict=True)
        ]
        # Two sorted runs: a stable sort merges them in about linear time.
        order = np.argsort(pair_keys(combined[0], combined[1]), kind="stable")
        return ScoreRows(*(column[order] for column in combined))

    def to_bytes(self) -> bytes:
        """The rows as an .npz file."""
        out = io.BytesIO()
        np.savez(out, **{field.name: getattr(self, field.name) for field in fields(self)})
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ScoreRows":
        """The rows back from `to_bytes` (no pickles are loaded); ValueError if `data` is not
        such a file, whole."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                columns = _typed(*(stored[field.name] for field in fields(cls)))
        except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
            raise ValueError(f"not a whole score snapshot: {exc}") from exc
        if len({len(column) for column in columns}) != 1:
            raise ValueError("columns of different lengths")
        return cls(*columns)


def _typed(*columns: npt.ArrayLike) -> list[npt.NDArray]:
    """user ids, item ids, scores, times, bought as their dtypes."""
    dtypes = (np.int64, np.int64, np.float64, np.float64, np.bool_)
    return [
        np.asarray(column).astype(dtype, copy=False)
        for column, dtype in zip(columns, dtypes, strict=True)
    ]
