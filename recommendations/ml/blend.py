"""Top buys as a blend: ALS, item-item neighbours (implicit's BM25, TF-IDF or cosine) and the
shop's recent demand, each standardised per user and mixed by weight.

On purchase data the families are strong in different places: ALS on a user's broad taste,
item-item on "goes with what you bought", recent demand on what the season sells now
(docs/benchmarks.md, "Top buys on Online Retail"). The weights are AlsParams fields, chosen by
validation (services/training/als.tune_als); with both extra weights at 0 the blend is plain
ALS and is scored by implicit itself.
"""

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.nearest_neighbours import (
    BM25Recommender,
    CosineRecommender,
    ItemItemRecommender,
    TFIDFRecommender,
)
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from recommendations.ml import als, foldin, popularity
from recommendations.ml.data import IdIndex, ScoreTable, aggregate, split_by_time, top_k
from recommendations.ml.evaluate import ranking_metrics
from recommendations.ml.neighbours import ApproximateColumns

WEIGHTINGS: dict[str, type[ItemItemRecommender]] = {
    "bm25": BM25Recommender,
    "tfidf": TFIDFRecommender,
    "cosine": CosineRecommender,
}


@dataclass(frozen=True)
class Blend:
    """A fitted top-buys model. `similarity` (items x items, or None) and `demand` (one value
    per item, or None) are there only where their weight is above 0."""

    model: object  # implicit's AlternatingLeastSquares
    similarity: sp.csr_matrix | None
    demand: npt.NDArray[np.float32] | None
    params: als.AlsParams

    @property
    def plain(self) -> bool:
        return self.similarity is None and self.demand is None


def recent_demand(
    cols: npt.NDArray[np.int64],
    age_days: npt.NDArray[np.float64],
    *,
    n_items: int,
    days: float,
) -> npt.NDArray[np.float32]:
    """log(1 + users active on the item within the last `days`), from one (user, item) pair
    per entry and the age of its last event."""
    recent = cols[(age_days <= days) & (cols >= 0)]
    return np.log1p(np.bincount(recent, minlength=n_items)).astype(np.float32)


def item_similarity(user_items: sp.csr_matrix, *, weighting: str, neighbours: int) -> sp.csr_matrix:
    """items x items: each item's `neighbours` nearest items under `weighting` (implicit)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"item weighting must be one of {', '.join(WEIGHTINGS)}")
    model = WEIGHTINGS[weighting](K=neighbours, num_threads=0)
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        # BM25 and TF-IDF reweigh the matrix into COO themselves and then warn about it
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(user_items.astype(np.float32).tocsr(), show_progress=False)
    return model.similarity.tocsr().astype(np.float32)


def fit(
    user_items: sp.csr_matrix,
    params: als.AlsParams,
    *,
    demand: npt.NDArray[np.float32] | None = None,
) -> Blend:
    """ALS on the confidence matrix, and the parts whose weight is above 0 (`demand` is
    needed then: recent_demand of the same pairs)."""
    return fit_parts(user_items, params, demand=demand, model=als.fit(user_items, params))


def fit_parts(
    user_items: sp.csr_matrix,
    params: als.AlsParams,
    *,
    demand: npt.NDArray[np.float32] | None,
    model: object,
) -> Blend:
    """A blend of an already fitted ALS `model` and the other parts, fitted here."""
    similarity = None
    if params.item_weight > 0:
        similarity = item_similarity(
            user_items, weighting=params.item_weighting, neighbours=params.item_neighbours
        )
    if params.trend_weight > 0 and demand is None:
        raise ValueError("a blend with trend_weight > 0 needs the items' recent demand")
    return Blend(model, similarity, demand if params.trend_weight > 0 else None, params)


def _standardised(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row shifted to mean 0 and scaled to standard deviation 1 (flat rows become 0)."""
    scores = scores - scores.mean(axis=1, keepdims=True)
    spread = scores.std(axis=1, keepdims=True)
    return scores / np.where(spread > 0, spread, 1)


def scores(
    blend: Blend, user_factors: npt.NDArray[np.float32], rows: sp.csr_matrix
) -> npt.NDArray[np.float32]:
    """users x items blended scores from the users' ALS factors and their confidence rows:
    each part standardised per user (as _standardised does), then weighted and summed.

    The means and spreads come without extra passes over the dense matrix: the ALS scores'
    from the item factors' mean and covariance, the neighbours' from the sparse product's
    sums; only the ALS product is ever dense. Plain ALS: the raw product, as als.top_n ranks."""
    p = blend.params
    n_items = blend.model.item_factors.shape[0]
    factors = np.asarray(user_factors, np.float32)
    item_factors = np.asarray(blend.model.item_factors, np.float32)
    out = factors @ item_factors.T
    if blend.plain:
        return out
    mean = factors @ item_factors.mean(axis=0)
    spread = np.sqrt(
        np.maximum(np.einsum("uf,fg,ug->u", factors, np.cov(item_factors.T, bias=True), factors), 0)
    )
    scale = (1 - p.item_weight - p.trend_weight) / np.where(spread > 1e-12, spread, 1)
    out *= scale[:, None].astype(np.float32)
    shift = -mean * scale
    if blend.similarity is not None:
        neighbours = (rows.tocsr() @ blend.similarity).tocoo()
        sums = np.bincount(neighbours.row, weights=neighbours.data, minlength=len(factors))
        squares = np.bincount(neighbours.row, weights=neighbours.data**2, minlength=len(factors))
        mean = sums / n_items
        spread = np.sqrt(np.maximum(squares / n_items - mean**2, 0))
        weight = p.item_weight / np.where(spread > 1e-12, spread, 1)
        out[neighbours.row, neighbours.col] += (neighbours.data * weight[neighbours.row]).astype(
            np.float32
        )
        shift -= mean * weight
    if blend.demand is not None:
        out += (p.trend_weight * _standardised(blend.demand[None, :])).astype(np.float32)
    out += shift[:, None].astype(np.float32)
    return out


def top_n(
    blend: Blend,
    confidence: sp.csr_matrix,
    exclude: sp.csr_matrix,
    *,
    n: int,
    users: npt.NDArray[np.int64] | None = None,
    filter_items: npt.NDArray[np.int64] | None = None,
    user_factors: npt.NDArray[np.float32] | None = None,
    batch_size: int = 2000,
    index: ApproximateColumns | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Like als.top_n, for a blend: item indices and scores per user in `users` (rows of
    `confidence` and `exclude`; `user_factors` one row each, by default the model's), the
    `exclude`d and `filter_items` left out, -1 padding. `index` (approximate search over the
    item factors) serves plain ALS only."""
    users = np.arange(exclude.shape[0]) if users is None else np.asarray(users)
    if blend.plain and user_factors is None:
        return als.top_n(
            blend.model, exclude, n=n, users=users, filter_items=filter_items,
            batch_size=batch_size, index=index,
        )  # fmt: skip
    n = min(n, exclude.shape[1])
    factors = blend.model.user_factors[users] if user_factors is None else user_factors
    ids = np.full((len(users), n), -1, dtype=np.int64)
    values = np.zeros((len(users), n), dtype=np.float32)
    with threadpool_limits(1, "blas"):
        for start in range(0, len(users), batch_size):
            part = slice(start, start + batch_size)
            batch = users[part]
            ranked = scores(blend, factors[part], confidence[batch])
            ids[part], values[part] = _best(ranked, exclude[batch], n, filter_items)
    return ids, values


def _best(
    ranked: npt.NDArray[np.float32],
    exclude: sp.csr_matrix,
    n: int,
    filter_items: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's `n` best columns of `ranked` outside `exclude` (same rows) and
    `filter_items`, best first, and their scores; -1 and 0 pad. `ranked` is overwritten."""
    hidden = exclude.tocoo()
    ranked[hidden.row, hidden.col] = -np.inf
    if filter_items is not None and len(filter_items):
        ranked[:, filter_items] = -np.inf
    best = top_k(ranked, min(n, ranked.shape[1]))
    got = np.take_along_axis(ranked, best, axis=1)
    valid = np.isfinite(got)
    return np.where(valid, best, -1), np.where(valid, got, 0)


def item_contributors(
    similarity: sp.csr_matrix,
    confidence: sp.csr_matrix,
    entries: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """users x n: for each entry (item index; -1 pads), the column of the user's own item
    with the largest confidence x similarity to it, -1 where none is a neighbour."""
    n_items = similarity.shape[0]
    pairs = similarity.tocoo()
    keys = pairs.row.astype(np.int64) * n_items + pairs.col
    order = np.argsort(keys)
    keys, weights = keys[order], pairs.data[order]
    confidence = confidence.tocsr()
    best = np.full(entries.shape, -1, dtype=np.int64)
    for user in range(confidence.shape[0]):
        start, end = confidence.indptr[user], confidence.indptr[user + 1]
        if start == end:
            continue
        own, c = confidence.indices[start:end], confidence.data[start:end]
        targets = entries[user]
        wanted = own[:, None].astype(np.int64) * n_items + np.maximum(targets, 0)[None, :]
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        share = np.where(keys[at] == wanted, weights[at], 0) * c[:, None]
        pick = share.argmax(axis=0)
        found = (share[pick, np.arange(len(targets))] > 0) & (targets >= 0)
        best[user] = np.where(found, own[pick], -1)
    return best


# ---- tuning on a validation window ----------------------------------------------------------

NEIGHBOURS = (50, 200)
TREND_DAYS = (3.0, 7.0, 14.0, 30.0)
ITEM_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
TREND_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
GUARD_CHECKS = 20  # trials the guard scores at most, best by validation first
# how much better than the starting point a trial must score on the guard: two samples of one
# shop's pairs differ by a few per cent in nDCG by chance alone (docs/benchmarks.md)
GUARD_MARGIN = 0.02


@dataclass(frozen=True)
class Validation:
    """What a trial is fitted on and scored against: `table` the pairs it learns from (ages
    counted from the validation window's start), `truth` the held-out pairs, `exclude` what
    lists leave out (users x items), `users` the rows scored."""

    table: ScoreTable
    truth: sp.csr_matrix
    exclude: sp.csr_matrix
    users: npt.NDArray[np.int64]

    def fit(self, params: als.AlsParams) -> sp.csr_matrix:
        return self.table.matrix(half_life_days=params.half_life_days)

    def demand(self, days: float) -> npt.NDArray[np.float32]:
        return recent_demand(
            self.table.cols, self.table.age_days, n_items=len(self.table.items), days=days
        )


def _ndcg(top: npt.NDArray[np.int64], validation: Validation, k: int) -> float:
    return ranking_metrics(top, validation.truth[validation.users], k=k)[f"ndcg@{k}"]


def _blend_key(item_weight: float, weighting: str, neighbours: int, trend_weight: float,
               days: float) -> tuple:  # fmt: skip
    """What a blend computes: settings of a part with weight 0 do not matter."""
    item = (item_weight, weighting, neighbours) if item_weight > 0 else (0.0, "", 0)
    return (*item, *((trend_weight, days) if trend_weight > 0 else (0.0, 0.0)))


def _blends(start: als.AlsParams) -> list[tuple]:
    """The stage-2 grid (and `start`'s own blend), each distinct blend once, plain ALS not."""
    grid = [
        _blend_key(item_weight, weighting, neighbours, trend_weight, days)
        for weighting in WEIGHTINGS
        for neighbours in NEIGHBOURS
        for days in TREND_DAYS
        for item_weight in ITEM_WEIGHTS
        for trend_weight in TREND_WEIGHTS
        if item_weight + trend_weight <= 1
    ]
    grid.append(
        _blend_key(start.item_weight, start.item_weighting, start.item_neighbours,
                   start.trend_weight, start.trend_days)
    )  # fmt: skip
    return [key for key in dict.fromkeys(grid) if key != _blend_key(0, "", 0, 0, 0)]


class _Scorer:
    """nDCG@k of blends (_blend_key) on one validation, over `base`'s fitted ALS `model`.
    The ALS part is computed once, an item-item part once per setting while blends of that
    setting come in a row (one is held at a time: each is users x items)."""

    def __init__(self, validation: Validation, base: als.AlsParams, model: object, k: int) -> None:
        self.validation, self.k = validation, k
        self.fit = validation.fit(base)
        self.exclude = validation.exclude[validation.users]
        with threadpool_limits(1, "blas"):
            factors = model.user_factors[validation.users]
            self.als_part = _standardised(factors @ model.item_factors.T)
        self.item_setting: tuple | None = None
        self.item_part: npt.NDArray[np.float32] | float = 0.0

    def __call__(self, key: tuple) -> float:
        item_weight, weighting, neighbours, trend_weight, days = key
        if item_weight and self.item_setting != (weighting, neighbours):
            similarity = item_similarity(self.fit, weighting=weighting, neighbours=neighbours)
            rows = self.fit[self.validation.users]
            self.item_part = _standardised(np.asarray((rows @ similarity).todense(), np.float32))
            self.item_setting = (weighting, neighbours)
        ranked = (1 - item_weight - trend_weight) * self.als_part
        if item_weight:
            ranked = ranked + item_weight * self.item_part
        if trend_weight:
            ranked = ranked + trend_weight * _standardised(self.validation.demand(days)[None, :])
        return _ndcg(_best(ranked, self.exclude, self.k)[0], self.validation, self.k)


def tune(
    validation: Validation,
    *,
    start: als.AlsParams,
    candidates: list[als.AlsParams],
    guard: Validation | None = None,
    k: int = 10,
    on_trial: Callable[[dict], None] | None = None,
) -> tuple[als.AlsParams, list[dict]]:
    """The best parameters by validation nDCG@k, and every trial.

    Two stages: ALS alone over `start` (its ALS part, the first trial) and `candidates`;
    then, on the best ALS, blends with each item-item weighting x NEIGHBOURS and each
    TREND_DAYS demand over the ITEM_WEIGHTS x TREND_WEIGHTS grid (pure item-item and pure
    trend included), and `start`'s own blend. With a `guard` (a random hold-out of users'
    pairs) nothing wins unless it scores there GUARD_MARGIN better than the first trial, plain
    ALS with the starting parameters: a model that chases the season and forgets the users'
    taste does not replace it. The guard checks the best ALS and its blends, best first, until one
    passes, at most GUARD_CHECKS of them; where none passes, the starting parameters stay.

    Trials record "ndcg@k" (on `validation`), "family" and "eligible" (True where it may win;
    False where the guard refused it; None where it was not checked), and where checked
    "guard_ndcg@k"."""
    metric, guarded = f"ndcg@{k}", f"guard_ndcg@{k}"
    plain = [replace(start, item_weight=0.0, trend_weight=0.0), *candidates]
    models, scores = [], []
    for params in plain:
        models.append(als.fit(validation.fit(params), params))
        top, _ = als.top_n(models[-1], validation.exclude, n=k, users=validation.users)
        scores.append(_ndcg(top, validation, k))
    best = int(np.argmax(scores))
    base = plain[best]
    blends = sorted(_blends(start), key=lambda key: (key[1], key[2]))  # by item-item setting
    scorer = _Scorer(validation, base, models[best], k)
    trials = plain + [_blended(base, key) for key in blends]
    scores += [scorer(key) for key in blends]
    eligible: list[bool | None] = [True] * len(trials)
    checked: dict[int, float] = {}
    if guard is not None:
        eligible = [None] * len(trials)
        on_guard = _GuardScorer(guard, plain, base, blends, k)
        checked[0] = on_guard(0)
        floor = checked[0] * (1 + GUARD_MARGIN)
        eligible[0] = True
        # the best ALS and the blends on it, best first (the other ALS candidates score
        # below the best one, and each would cost a fit)
        walk = sorted([best, *range(len(plain), len(trials))], key=lambda i: -scores[i])
        for i in walk[:GUARD_CHECKS]:
            if scores[i] <= scores[0]:
                break  # the starting point is as good on the validation: it stays
            checked[i] = on_guard(i)
            eligible[i] = checked[i] >= floor
            if eligible[i]:
                break
    recorded = []
    for i, params in enumerate(trials):
        extra = {guarded: checked[i]} if i in checked else {}
        recorded.append(_trial(params, metric, scores[i], eligible=eligible[i], **extra))
        if on_trial is not None:
            on_trial(recorded[-1])
    winner = max((t for t in recorded if t["eligible"] is True), key=lambda t: t[metric])
    return als.AlsParams(**winner["params"]), recorded


def _blended(base: als.AlsParams, key: tuple) -> als.AlsParams:
    """`base` with the blend of a _blend_key."""
    item_weight, weighting, neighbours, trend_weight, days = key
    return replace(
        base, item_weight=item_weight, trend_weight=trend_weight,
        item_weighting=weighting or base.item_weighting,
        item_neighbours=neighbours or base.item_neighbours,
        trend_days=days or base.trend_days,
    )  # fmt: skip


class _GuardScorer:
    """nDCG@k on the guard of trial i: the plain ALS candidates (`plain`, fitted on the
    guard's data when asked), then the `blends` over `base`."""

    def __init__(
        self, guard: Validation, plain: list[als.AlsParams], base: als.AlsParams,
        blends: list[tuple], k: int,
    ) -> None:  # fmt: skip
        self.guard, self.plain, self.base, self.blends, self.k = guard, plain, base, blends, k
        self.models: dict[als.AlsParams, object] = {}
        self.scorer: _Scorer | None = None

    def _model(self, params: als.AlsParams) -> object:
        if params not in self.models:
            self.models[params] = als.fit(self.guard.fit(params), params)
        return self.models[params]

    def __call__(self, i: int) -> float:
        if i < len(self.plain):
            model = self._model(self.plain[i])
            top, _ = als.top_n(model, self.guard.exclude, n=self.k, users=self.guard.users)
            return _ndcg(top, self.guard, self.k)
        if self.scorer is None:
            self.scorer = _Scorer(self.guard, self.base, self._model(self.base), self.k)
        return self.scorer(self.blends[i - len(self.plain)])


def _trial(params: als.AlsParams, metric: str, score: float, **extra: object) -> dict:
    return {"params": params.as_dict(), "family": params.family, metric: score, **extra}


def random_guard(
    table: ScoreTable, *, test_fraction: float, seed: int, max_users: int
) -> Validation:
    """A random `test_fraction` of each user's pairs held out (for tune's guard), scored over
    at most `max_users` of the users with held-out pairs (a seeded sample beyond)."""
    held = table.holdout(test_fraction=test_fraction, seed=seed)
    return held_out_validation(table, held, max_users=max_users, seed=seed)


def held_out_validation(
    table: ScoreTable, held: npt.NDArray[np.bool_], *, max_users: int, seed: int
) -> Validation:
    """Learn from `table`'s pairs but the `held` ones, score on those."""
    kept = table.subset(~held)
    truth = table.indicator(held)
    return Validation(kept, truth, kept.indicator(np.ones(len(kept.scores), bool)),
                      sample_users(truth, max_users=max_users, seed=seed))  # fmt: skip


def sample_users(truth: sp.csr_matrix, *, max_users: int, seed: int) -> npt.NDArray[np.int64]:
    """Rows of `truth` with a held-out pair, at most `max_users` (a seeded sample beyond)."""
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def temporal_validation(
    user_ids: npt.NDArray[np.int64],
    item_ids: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    times: npt.NDArray[np.float64],
    *,
    cutoff: float,
    users: IdIndex,
    items: IdIndex,
    max_users: int,
    seed: int,
) -> Validation:
    """Learn from the events before `cutoff` (aggregated, aged from it); score on the items
    users took up from it on that they had not had before (what top buys can get right), over
    at most `max_users` users with such items."""
    before = times < cutoff
    table = aggregate(
        user_ids[before], item_ids[before], weights[before], times[before],
        now=cutoff, users=users, items=items,
    ).positive()  # fmt: skip
    train, truth = split_by_time(
        users.index_of(user_ids), items.index_of(item_ids), weights, times,
        cutoff=cutoff, shape=(len(users), len(items)),
    )  # fmt: skip
    return Validation(table, truth, train, sample_users(truth, max_users=max_users, seed=seed))


def compare_families(
    validation: Validation,
    params: als.AlsParams,
    *,
    k: int = 10,
    fit_als: Callable[[als.AlsParams], object] | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of each family alone (ALS with `params`, item-item under every weighting with
    `params.item_neighbours`, recent demand over `params.trend_days`), `params`' own blend
    and popularity (distinct users), all fitted on `validation.table` and scored on its
    held-out pairs: what `evaluate` prints side by side. `fit_als` fits ALS on another engine
    (the same pairs), where given."""
    fit_matrix = validation.fit(params)
    model = als.fit(fit_matrix, params) if fit_als is None else fit_als(params)
    users, exclude = validation.users, validation.exclude
    truth = validation.truth[users]
    top, _ = als.top_n(model, exclude, n=k, users=users)
    out = {"als": ranking_metrics(top, truth, k=k)}
    for weighting in WEIGHTINGS:
        similarity = item_similarity(
            fit_matrix, weighting=weighting, neighbours=params.item_neighbours
        )
        ranked = np.asarray((fit_matrix[users] @ similarity).todense(), np.float32)
        out[weighting] = ranking_metrics(_best(ranked, exclude[users], k)[0], truth, k=k)
    demand = validation.demand(params.trend_days)
    ranked = np.repeat(demand[None, :], len(users), axis=0)
    out["trend"] = ranking_metrics(_best(ranked, exclude[users], k)[0], truth, k=k)
    served = fit_parts(fit_matrix, params, demand=demand, model=model)
    top, _ = top_n(served, fit_matrix, exclude, n=k, users=users)
    out["blend"] = {**ranking_metrics(top, truth, k=k), "family": params.family}
    popular = popularity.top_n_popular(fit_matrix, n=k, exclude_seen=exclude[users])
    out["popularity"] = ranking_metrics(popular, truth, k=k)
    return out


def item_side(model: Blend) -> Blend:
    """The blend without its ALS user factors: what scoring users whose factors come with
    them needs (top_n's `user_factors`), small enough to ship to Spark's executors."""
    light = copy.copy(model.model)
    light.user_factors = np.zeros((0, light.item_factors.shape[1]), np.float32)
    return replace(model, model=light)


def explain(
    model: Blend,
    confidence: sp.csr_matrix,
    item_ids: npt.NDArray[np.int64],
    top: npt.NDArray,
) -> npt.NDArray[np.int64]:
    """users x n: the item id of each user's pair that adds most to each entry's score (0 for
    none): its nearest bought item where the blend has item-item neighbours, else the largest
    share of its ALS score. `top` holds item indices, -1 padding."""
    if model.similarity is not None:
        best = item_contributors(model.similarity, confidence, top)
    else:
        best = foldin.als_contributors(model.model, confidence, top)
    return np.where(best >= 0, item_ids[np.maximum(best, 0)], 0)
