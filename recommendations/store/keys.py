"""Every Redis key name, built from one prefix. Nothing else spells a key: the Lua scripts get
whole keys, key templates (`VERSION` marks where a version number goes) or this prefix."""

from django.conf import settings

TOP_BUYS = "top_buys"
GLOBAL = "global"
BOUGHT_TOGETHER = "bought_together"
DECK = "deck"
SIMILAR = "similar"
MF = "mf"
RATINGS = "ratings"  # the ratings model's embeddings, apart from the swipe model's
FAMILIES = (TOP_BUYS, GLOBAL, BOUGHT_TOGETHER, DECK, SIMILAR, MF, RATINGS)
GLOBAL_TOP_BUYS = "top_buys"
GLOBAL_TRENDING = "trending"
SORTED_SET_FAMILIES = frozenset({BOUGHT_TOGETHER})
VERSION = "{v}"  # in a template, where the live version number goes
ONBOARDING = "onboarding"  # the deck of a user with no events, one per deck version
VARIANT_MARK = "@"  # 'top_buys@3.1': the lists of experiment 3's variant 1, a family of its own


def key(*parts: object) -> str:
    return ":".join((settings.PICKS_REDIS_PREFIX, *map(str, parts)))


def everything() -> str:
    """A SCAN pattern of every key under this prefix."""
    return key("*")


# ---- versioned lists ---------------------------------------------------------------------


def list_name(family: str, owner: object) -> str:
    """One list's name inside a version, e.g. 'user:7:top_buys'; an experiment variant's own
    family ('top_buys@3.1') names its lists 'x:3.1:user:7:top_buys'."""
    if VARIANT_MARK in family:
        base, tag = family.split(VARIANT_MARK, 1)
        return f"x:{tag}:{list_name(base, owner)}"
    if family == TOP_BUYS:
        parts: tuple[object, ...] = ("user", owner, "top_buys")
    elif family == BOUGHT_TOGETHER:
        parts = ("product", owner, "bought_together")
    elif family == DECK and owner == ONBOARDING:
        parts = ("deck", ONBOARDING)
    elif family == DECK:
        parts = ("user", owner, "deck")
    elif family == SIMILAR:
        parts = ("product", owner, "similar")
    elif family in (MF, RATINGS):
        parts = (family, *owner)  # owner: ("user" | "item", id)
    else:
        parts = ("global", owner)
    return ":".join(map(str, parts))


def version_prefix(version: int | str) -> str:
    """What every key of one version starts with."""
    return key(f"v{version}", "")


def list_key(version: int | str, family: str, owner: object) -> str:
    return version_prefix(version) + list_name(family, owner)


def list_template(family: str, owner: object) -> str:
    return list_key(VERSION, family, owner)


def live(family: str) -> str:
    """The pointer readers follow to a family's current version."""
    return key("live", family)


def previous(family: str) -> str:
    """The version a rollback goes back to."""
    return key("previous", family)


def variant_family(family: str, experiment_id: int, variant: int) -> str:
    return f"{family}{VARIANT_MARK}{experiment_id}.{variant}"


def base_family(family: str) -> str:
    return family.split(VARIANT_MARK, 1)[0]


def extra_families() -> str:
    """The set of experiment variants' families that were ever published (their versions are
    kept from the sweep like the fixed families')."""
    return key("families")


def versions(family: str) -> str:
    """The set of a family's version numbers that have keys."""
    return key("versions", family)


def version_seq() -> str:
    return key("version_seq")


def swept_through() -> str:
    """The last version number issued when a sweep last looked for versions nobody names."""
    return key("swept_through")


def meta(family: str, version: int | str) -> str:
    """What the job that wrote a version recorded."""
    return key("meta", family, version)


def meta_template(family: str) -> str:
    return meta(family, VERSION)


def version_patterns() -> tuple[str, str]:
    """SCAN patterns of every versioned list key and every meta key."""
    return key("v[0-9]*"), key("meta", "*")


def version_of(raw: bytes) -> int | None:
    """The version a versioned list key or a meta key belongs to (None for other keys)."""
    text = raw.decode()
    if text.startswith(key("meta", "")):
        number = text.rsplit(":", 1)[-1]
    elif text.startswith(key("v")):
        number = text[len(key("v")) :].split(":", 1)[0]
    else:
        return None
    return int(number) if number.isdigit() else None


# ---- current state: cards, seen sets -------------------------------------------------------


def card(item_id: int) -> str:
    return key("card", item_id)


def card_prefix() -> str:
    return key("card", "")


def seen(user_id: int) -> str:
    """Items a user swiped or bought: their deck never shows them again."""
    return key("user", user_id, "seen")


# ---- freshness: notices of new events, users refreshed ---------------------------------------


def notices() -> str:
    """The stream that tells refreshers which users just acted (after their commit)."""
    return key("fresh", "notices")


def refreshed() -> str:
    """Sorted set: user id -> when the data of their last refresh was read (Unix seconds)."""
    return key("fresh", "refreshed")


# ---- guards ----------------------------------------------------------------------------------


def lock(name: str) -> str:
    return key("lock", name)


def throttle(name: str, client: str, window: int) -> str:
    return key("throttle", name, client, window)


def closed(user_id: int) -> str:
    """Present while a closed account's access tokens may still be alive."""
    return key("closed", "user", user_id)


# ---- experiments -----------------------------------------------------------------------------


def experiments() -> str:
    """The running experiments' definitions (JSON), read by every API process."""
    return key("experiments")


def experiment_counts(experiment_id: int) -> str:
    """Hash: '<variant>:impressions', '<variant>:<kind>' (events) -> count."""
    return key("exp", experiment_id, "counts")


def experiment_users(experiment_id: int, variant: int, kind: str = "seen") -> str:
    """Set of the user keys of a variant that were served ('seen') or did `kind`."""
    return key("exp", experiment_id, kind, variant)


def experiment_pattern(experiment_id: int) -> str:
    return key("exp", experiment_id, "*")
