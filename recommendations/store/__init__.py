"""The Redis store: the only package that knows key names, encodings and versions.

    keys        every key name, from one prefix (the Lua gets whole keys or templates)
    codec       packed (item, score, source) records, cards and job metadata
    publishing  a new version, the pointer switch, rollback, the sweep; one publisher a family
    reading     the one read of an API page, and the reads behind "more like these" and predict
    state       item cards and seen sets (current, not versioned)
    fresh       notices of new events, one user's lists rewritten inside the live version
    guards      locks, rate windows, closed accounts
    *.lua       the scripts, loaded once a process

Lists are published as a whole: a job writes a new version of a family's keys, then one
pointer switches to it; readers resolve the pointer, so they never see half a list, and a job
that dies before the switch leaves the old version serving. The version before the live one
is kept for rollback; the others are deleted by the next publish.
"""

from recommendations.store.codec import (
    FAMILY_SOURCE,
    RECORD,
    SOURCES,
    VECTOR,
    Entry,
    packed_rows,
)
from recommendations.store.connection import (
    client,
    delete_prefix,
    job_timeouts,
    ping,
    unlink_matching,
)
from recommendations.store.fresh import (
    FreshLists,
    forget_refreshed_before,
    live_versions,
    mark_refreshed,
    notify,
    refreshed_since,
    wait_for_notices,
    write_fresh,
)
from recommendations.store.guards import (
    AccountClosed,
    HeldLock,
    Hit,
    close_account,
    count_hit,
    lock_holder,
)
from recommendations.store.keys import (
    BOUGHT_TOGETHER,
    DECK,
    FAMILIES,
    GLOBAL,
    GLOBAL_TOP_BUYS,
    GLOBAL_TRENDING,
    MF,
    ONBOARDING,
    RATINGS,
    SIMILAR,
    SORTED_SET_FAMILIES,
    TOP_BUYS,
)
from recommendations.store.publishing import (
    LockLost,
    NothingToRollBack,
    Publication,
    PublishLocked,
    held_locks,
    live_version,
    previous_version,
    publishing,
    rollback,
    sweep_versions,
    version_meta,
)
from recommendations.store.reading import Impression, Page, read_many, read_page, read_vectors
from recommendations.store.state import (
    add_seen_many,
    card_ids,
    delete_cards,
    read_raw_cards,
    write_cards,
)

__all__ = [
    "BOUGHT_TOGETHER", "DECK", "FAMILIES", "FAMILY_SOURCE", "GLOBAL", "GLOBAL_TOP_BUYS",
    "GLOBAL_TRENDING", "MF", "ONBOARDING", "RATINGS", "RECORD", "SIMILAR", "SORTED_SET_FAMILIES",
    "SOURCES", "TOP_BUYS", "VECTOR", "AccountClosed", "Entry", "FreshLists", "HeldLock", "Hit",
    "Impression", "LockLost", "NothingToRollBack", "Page", "Publication", "PublishLocked",
    "add_seen_many", "card_ids", "client", "close_account", "count_hit", "delete_cards",
    "delete_prefix", "forget_refreshed_before", "held_locks", "job_timeouts", "live_version",
    "live_versions", "lock_holder", "mark_refreshed", "notify", "packed_rows", "ping",
    "previous_version", "publishing", "read_many", "read_page", "read_raw_cards", "read_vectors",
    "refreshed_since", "rollback", "sweep_versions", "unlink_matching", "version_meta",
    "wait_for_notices", "write_cards", "write_fresh",
]  # fmt: skip
