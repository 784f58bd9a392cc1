"""A synthetic fashion shop with planted structure: the known answer for tests and benchmarks.

Users belong to taste groups. Group g likes one category, two brands and one colour; its
items are drawn with a Zipf popularity, so the global popularity order is known too. Users
swipe right on their group's items and left on the others, buy from their group, and a few
planted item pairs are usually bought together.

The harder shop (`ShopSpec.hard()`) is what separates a taste model from a bias model: some
users like their second group too, a swipe is a like with probability
sigmoid(+-TASTE_LOGIT + user bias + item bias) (some users like almost everything, some items
are liked by almost everyone), and a share of swipes is flipped at random.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CATEGORIES = ("Dresses", "Sneakers", "Jackets", "Jeans", "Tops", "Bags", "Boots", "Skirts")
CATEGORY_NOUNS = ("dress", "sneaker", "jacket", "jeans", "top", "bag", "boots", "skirt")
BRANDS = (
    "Aurora", "Basalt", "Cobalt", "Dune", "Ember", "Fjord", "Garnet", "Harbor",
    "Indigo", "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pike",
)  # fmt: skip
COLOURS = ("black", "white", "red", "navy", "green", "beige", "grey", "pink")
SIZES = (("XS", "S", "M", "L", "XL"), ("38", "39", "40", "41", "42", "43", "44"), ("one size",))
CATEGORY_SIZES = (0, 1, 0, 0, 0, 2, 1, 0)
CATEGORY_BASE_PRICE = (60.0, 90.0, 140.0, 70.0, 30.0, 110.0, 130.0, 50.0)
KINDS = ("like", "dislike", "view", "cart", "purchase")
OWN_KIND_SHARES = (0.55, 0.0, 0.25, 0.12, 0.08)
OTHER_KIND_SHARES = (0.0, 0.7, 0.3, 0.0, 0.0)
TASTE_LOGIT = 2.0  # log-odds of a like inside a user's taste (minus it outside), before biases


@dataclass(frozen=True)
class ShopSpec:
    users: int = 10_000
    items: int = 2_000
    events: int = 200_000
    groups: int = 8
    own_group_share: float = 0.85
    orders: int = 0  # 0: one order per 20 events
    planted_pairs: int = 10
    pair_share: float = 0.3
    days: int = 90
    seed: int = 0
    # All 0: the clean demo, where a swipe is a like exactly when the item is of the user's group.
    noise: float = 0.0  # share of swipes flipped at random
    user_bias: float = 0.0  # spread (sd, log-odds) of how much users like anything
    item_bias: float = 0.0  # spread (sd, log-odds) of how much anyone likes an item
    second_taste_share: float = 0.0  # users who like a second group as much as their own

    @classmethod
    def hard(cls, **changes: object) -> "ShopSpec":
        """The harder shop's defaults, with `changes`."""
        return cls(
            **{"noise": 0.1, "user_bias": 1.0, "item_bias": 1.0, "second_taste_share": 0.3,
               **changes}
        )  # fmt: skip

    @property
    def is_hard(self) -> bool:
        return bool(self.noise or self.user_bias or self.item_bias or self.second_taste_share)


@dataclass(frozen=True)
class SyntheticShop:
    """Arrays indexed by item, user, event, order or order line."""

    spec: ShopSpec
    item_group: npt.NDArray[np.int64]
    item_category: npt.NDArray[np.int64]
    item_brand: npt.NDArray[np.int64]
    item_colour: npt.NDArray[np.int64]
    item_price: npt.NDArray[np.float64]
    item_rank: npt.NDArray[np.int64]  # popularity rank inside its group, 0 = most popular
    user_group: npt.NDArray[np.int64]
    user_second_group: npt.NDArray[np.int64]  # the user's group again for one-taste users
    event_user: npt.NDArray[np.int64]
    event_item: npt.NDArray[np.int64]
    event_kind: npt.NDArray[np.int64]  # index into KINDS
    event_age_seconds: npt.NDArray[np.int64]
    order_user: npt.NDArray[np.int64]
    order_age_seconds: npt.NDArray[np.int64]
    line_order: npt.NDArray[np.int64]
    line_item: npt.NDArray[np.int64]
    line_quantity: npt.NDArray[np.int64]
    pairs: npt.NDArray[np.int64]  # (planted_pairs, 2) item indices

    def in_taste(self, users: npt.ArrayLike, items: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each item is of one of its user's (one or two) groups."""
        return _in_taste(
            self.item_group[items], self.user_group[users], self.user_second_group[users]
        )


def _in_taste(item_group: npt.NDArray, first: npt.NDArray, second: npt.NDArray) -> npt.NDArray:
    return (item_group == first) | (item_group == second)


def _group_items(spec: ShopSpec, group: npt.NDArray, rank: npt.NDArray) -> npt.NDArray[np.int64]:
    """Item index of the `rank`-th item of `group` (items are dealt to groups round-robin)."""
    return rank * spec.groups + group


def _group_sizes(spec: ShopSpec) -> npt.NDArray[np.int64]:
    return np.array([len(range(g, spec.items, spec.groups)) for g in range(spec.groups)])


def _zipf_ranks(rng: np.random.Generator, sizes: npt.NDArray, exponent: float = 0.9) -> npt.NDArray:
    """One popularity-weighted rank per entry of `sizes` (the size of the group drawn from)."""
    out = np.empty(len(sizes), dtype=np.int64)
    for size in np.unique(sizes):
        where = np.flatnonzero(sizes == size)
        weights = 1.0 / np.arange(1, size + 1) ** exponent
        out[where] = rng.choice(size, size=len(where), p=weights / weights.sum())
    return out


def _catalog(spec: ShopSpec, rng: np.random.Generator) -> dict[str, npt.NDArray]:
    n, g = spec.items, np.arange(spec.items) % spec.groups
    own_category = g % len(CATEGORIES)
    category = np.where(rng.random(n) < 0.9, own_category, rng.integers(0, len(CATEGORIES), n))
    own_brand = (2 * g + rng.integers(0, 2, n)) % len(BRANDS)
    brand = np.where(rng.random(n) < 0.85, own_brand, rng.integers(0, len(BRANDS), n))
    colour = np.where(rng.random(n) < 0.7, g % len(COLOURS), rng.integers(0, len(COLOURS), n))
    base = np.asarray(CATEGORY_BASE_PRICE)[category]
    price = np.round(base * rng.lognormal(0.0, 0.35, n), 2)
    return {
        "item_group": g,
        "item_category": category,
        "item_brand": brand,
        "item_colour": colour,
        "item_price": price,
        "item_rank": np.arange(n) // spec.groups,
    }


@dataclass(frozen=True)
class _Tastes:
    """The harder shop's draws, from a generator of their own (the clean shop's draws stay
    the same whatever these options are)."""

    rng: np.random.Generator
    first_group: npt.NDArray[np.int64]
    second_group: npt.NDArray[np.int64]
    user_bias: npt.NDArray[np.float64]
    item_bias: npt.NDArray[np.float64]

    @classmethod
    def draw(cls, spec: ShopSpec, user_group: npt.NDArray) -> "_Tastes":
        rng = np.random.default_rng([spec.seed, 1])
        two = rng.random(spec.users) < spec.second_taste_share
        other = (user_group + rng.integers(1, max(spec.groups, 2), spec.users)) % spec.groups
        return cls(
            rng=rng,
            first_group=user_group,
            second_group=np.where(two, other, user_group),
            user_bias=rng.normal(0.0, spec.user_bias, spec.users),
            item_bias=rng.normal(0.0, spec.item_bias, spec.items),
        )

    def swipes(
        self, spec: ShopSpec, user: npt.NDArray, item: npt.NDArray, kind: npt.NDArray
    ) -> npt.NDArray[np.int64]:
        """`kind` with every swipe redrawn: a like with probability sigmoid(+-TASTE_LOGIT +
        user bias + item bias), then flipped with probability `noise`."""
        group = item % spec.groups  # items are dealt to groups round-robin
        in_taste = _in_taste(group, self.first_group[user], self.second_group[user])
        logit = np.where(in_taste, TASTE_LOGIT, -TASTE_LOGIT)
        logit = logit + self.user_bias[user] + self.item_bias[item]
        like = self.rng.random(len(kind)) < 1 / (1 + np.exp(-logit))
        like ^= self.rng.random(len(kind)) < spec.noise
        swipe = (kind == KINDS.index("like")) | (kind == KINDS.index("dislike"))
        return np.where(swipe, np.where(like, KINDS.index("like"), KINDS.index("dislike")), kind)


def _events(
    spec: ShopSpec, rng: np.random.Generator, user_group: npt.NDArray, tastes: _Tastes
) -> dict:
    sizes = _group_sizes(spec)
    activity = rng.lognormal(0.0, 0.6, spec.users)
    user = rng.choice(spec.users, size=spec.events, p=activity / activity.sum())
    own = rng.random(spec.events) < spec.own_group_share
    own_group = np.where(
        tastes.rng.random(spec.events) < 0.5, tastes.second_group[user], user_group[user]
    )
    group = np.where(
        own,
        own_group,
        (user_group[user] + rng.integers(1, spec.groups, spec.events)) % spec.groups,
    )
    rank = _zipf_ranks(rng, sizes[group])
    kind = np.where(
        own,
        rng.choice(len(KINDS), size=spec.events, p=OWN_KIND_SHARES),
        rng.choice(len(KINDS), size=spec.events, p=OTHER_KIND_SHARES),
    )
    item = _group_items(spec, group, rank)
    if spec.is_hard:
        kind = tastes.swipes(spec, user, item, kind)
    return {
        "event_user": user,
        "event_item": item,
        "event_kind": kind,
        "event_age_seconds": rng.integers(0, spec.days * 86_400, spec.events),
    }


def _orders(spec: ShopSpec, rng: np.random.Generator, user_group: npt.NDArray) -> dict:
    sizes = _group_sizes(spec)
    n_orders = spec.orders or max(spec.events // 20, 1)
    pair_group = rng.integers(0, spec.groups, spec.planted_pairs)
    pair_rank = rng.choice(np.arange(5, max(sizes.min(), 7) - 1), size=(spec.planted_pairs, 2))
    pair_rank[:, 1] = np.where(
        pair_rank[:, 0] == pair_rank[:, 1], pair_rank[:, 1] + 1, pair_rank[:, 1]
    )
    pairs = _group_items(spec, pair_group[:, None], pair_rank)
    order_user = rng.integers(0, spec.users, n_orders)
    basket_size = 1 + rng.poisson(1.5, n_orders)
    line_order = np.repeat(np.arange(n_orders), basket_size)
    group = user_group[order_user][line_order]
    line_item = _group_items(spec, group, _zipf_ranks(rng, sizes[group]))
    with_pair = np.flatnonzero(rng.random(n_orders) < spec.pair_share)
    chosen = pairs[rng.integers(0, spec.planted_pairs, len(with_pair))]
    line_order = np.concatenate([line_order, np.repeat(with_pair, 2)])
    line_item = np.concatenate([line_item, chosen.ravel()])
    keep = np.unique(np.stack([line_order, line_item], axis=1), axis=0)
    return {
        "order_user": order_user,
        "order_age_seconds": rng.integers(0, spec.days * 86_400, n_orders),
        "line_order": keep[:, 0],
        "line_item": keep[:, 1],
        "line_quantity": 1 + rng.poisson(0.5, len(keep)),
        "pairs": pairs,
    }


def make_shop(spec: ShopSpec) -> SyntheticShop:
    """Draw a whole shop from `spec`; the same seed gives the same shop."""
    rng = np.random.default_rng(spec.seed)
    user_group = np.arange(spec.users) % spec.groups
    tastes = _Tastes.draw(spec, user_group)
    return SyntheticShop(
        spec=spec,
        user_group=user_group,
        user_second_group=tastes.second_group,
        **_catalog(spec, rng),
        **_events(spec, rng, user_group, tastes),
        **_orders(spec, rng, user_group),
    )
