"""Aggregated (user, item) scores as sorted arrays: kept between training runs, so that only
the rows changed since have to be read and merged in."""

import io
import zipfile
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_ITEM_BITS = 32


def pair_keys(user_ids: npt.ArrayLike, item_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """One int64 per (user, item) that sorts like the pair; ids must fit (users < 2**31,
    items < 2**32), which database ids do long before a shop grows out of them."""
    users, items = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
    if len(users) and (
        users.min() < 0 or users.max() >= 2**31 or items.min() < 0 or items.max() >= 2**32
    ):
        raise ValueError("ids out of the range a pair key holds")
    return (users << _ITEM_BITS) | items


@dataclass(frozen=True)
class ScoreRows:
    """Positive scores, one row per (user, item), sorted by user then item (unsorted only
    when ids are too large for pair keys); `times` is when the pair was last active, in Unix
    seconds."""

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    times: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        user_ids: npt.ArrayLike,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        times: npt.ArrayLike,
    ) -> "ScoreRows":
        """Rows in any order (each pair once), sorted; those with a score at or below zero
        are left out."""
        users, items = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
        scores, times = np.asarray(scores, np.float64), np.asarray(times, np.float64)
        keep = scores > 0
        order = np.argsort(pair_keys(users[keep], items[keep]), kind="stable")
        return cls(users[keep][order], items[keep][order], scores[keep][order], times[keep][order])

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
    ) -> "ScoreRows":
        """These rows with the given changed rows in place of their pairs' old values (any
        score: a pair whose score fell to zero or below leaves)."""
        changed = pair_keys(user_ids, item_ids)
        if not len(changed):
            return self
        keys = self.keys()
        pos = np.searchsorted(keys, changed).clip(max=max(len(keys) - 1, 0))
        stale = np.zeros(len(keys), bool)
        if len(keys):
            stale[pos[keys[pos] == changed]] = True
        fresh = ScoreRows.of(user_ids, item_ids, scores, times)
        keep = ~stale
        combined = [
            np.concatenate([old[keep], new])
            for old, new in (
                (self.user_ids, fresh.user_ids),
                (self.item_ids, fresh.item_ids),
                (self.scores, fresh.scores),
                (self.times, fresh.times),
            )
        ]
        # Two sorted runs: a stable sort merges them in about linear time.
        order = np.argsort(pair_keys(combined[0], combined[1]), kind="stable")
        return ScoreRows(*(column[order] for column in combined))

    def to_bytes(self) -> bytes:
        """The rows as an .npz file."""
        out = io.BytesIO()
        np.savez(
            out,
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            scores=self.scores,
            times=self.times,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ScoreRows":
        """The rows back from `to_bytes` (no pickles are loaded); ValueError if `data` is not
        such a file, whole."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                rows = cls(
                    stored["user_ids"].astype(np.int64),
                    stored["item_ids"].astype(np.int64),
                    stored["scores"].astype(np.float64),
                    stored["times"].astype(np.float64),
                )
        except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
            raise ValueError(f"not a whole score snapshot: {exc}") from exc
        if len({len(rows.user_ids), len(rows.item_ids), len(rows.scores), len(rows.times)}) != 1:
            raise ValueError("columns of different lengths")
        return rows
