"""`evaluate`: the current models trained on one part of the data and scored on the rest."""

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.conf import settings

from recommendations.ml import als, mf, popularity
from recommendations.ml.data import IdIndex, aggregate, holdout_mask, split_by_time
from recommendations.ml.evaluate import ranking_metrics
from recommendations.models import Interaction, ModelRun, OrderLine
from recommendations.services.training.als import current_als_params
from recommendations.services.training.mf import (
    current_mf_params,
    fit_and_score,
    load_swipes,
    swipe_baselines,
)
from recommendations.services.training.model_runs import NoTrainingData, served_params

SPLITS = ("temporal", "random")


@dataclass(frozen=True)
class Events:
    """Every weighted event as parallel arrays (database ids, seconds since the epoch)."""

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]
    times: npt.NDArray[np.float64]


def load_events() -> Events:
    """Order lines of customers (cancellations negative) and logged events, with weights."""
    weights = settings.PICKS_EVENT_WEIGHTS
    lines = OrderLine.objects.filter(order__customer__isnull=False).values_list(
        "order__customer_id", "item_id", "order__ordered_at", "order__is_cancelled", "quantity"
    )
    rows = [
        (u, i, -weights["purchase"] if cancelled or q < 0 else weights["purchase"], t.timestamp())
        for u, i, t, cancelled, q in lines.iterator(chunk_size=20_000)
    ]
    events = Interaction.objects.values_list("user_id", "item_id", "kind", "occurred_at")
    rows += [(u, i, weights[k], t.timestamp()) for u, i, k, t in events.iterator(chunk_size=20_000)]
    if not rows:
        raise NoTrainingData("no events or orders to evaluate on")
    array = np.array(rows, dtype=np.float64)
    return Events(
        array[:, 0].astype(np.int64),
        array[:, 1].astype(np.int64),
        array[:, 2].astype(np.float32),
        array[:, 3],
    )


def evaluate_models(
    *,
    split: str,
    test_fraction: float = 0.25,
    k: int = 10,
    seed: int = 0,
    days: float | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics per model ("als", "popularity"; "mf" with its baselines "mf_bias" and
    "mf_item_rate", and "ratings", where there are swipes or ratings) on the held-out part of
    the chosen split.

    temporal: the last `days` (or the last `test_fraction` of the time span) are held out, and
    only items a user had not had before count. random: `test_fraction` of each user's items.
    The swipe models are scored on held-out swipes (or ratings) cut the same way.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    if not 0 < test_fraction < 1 or k < 1:
        raise ValueError("test_fraction must be between 0 and 1 and k at least 1")
    events = load_events()
    users, items = IdIndex.of(events.user_ids), IdIndex.of(events.item_ids)
    params = dataclasses.replace(current_als_params(), seed=seed)
    if split == "temporal":
        cutoff = _cutoff(events.times, days=days, test_fraction=test_fraction)
        before = events.times < cutoff
        table = aggregate(
            events.user_ids[before],
            events.item_ids[before],
            events.weights[before],
            events.times[before],
            now=cutoff,
            users=users,
            items=items,
        ).positive()
        train = table.matrix(half_life_days=params.half_life_days)
        _, test = split_by_time(
            users.index_of(events.user_ids),
            items.index_of(events.item_ids),
            events.weights,
            events.times,
            cutoff=cutoff,
            shape=(len(users), len(items)),
        )
    else:
        table = aggregate(
            events.user_ids, events.item_ids, events.weights, events.times, now=events.times.max()
        ).positive()
        held_out = table.holdout(test_fraction=test_fraction, seed=seed)
        train = table.matrix(half_life_days=params.half_life_days, mask=~held_out)
        test = table.indicator(held_out)
    model = als.fit(train, params)
    top, _ = als.top_n(model, train, n=k)
    popular = popularity.top_n_popular(train, n=k, exclude_seen=train)
    return {
        "als": ranking_metrics(top, test, k=k),
        "popularity": ranking_metrics(popular, test, k=k),
        **evaluate_swipe_models(split=split, test_fraction=test_fraction, seed=seed, days=days),
    }


def _cutoff(times: npt.NDArray[np.float64], *, days: float | None, test_fraction: float) -> float:
    """Where a temporal split starts its held-out part: the last `days`, or the last
    `test_fraction` of the time span."""
    start, end = times.min(), times.max()
    return end - days * 86_400 if days else end - (end - start) * test_fraction


def evaluate_swipe_models(
    *, split: str, test_fraction: float, seed: int, days: float | None
) -> dict[str, dict[str, float]]:
    """The swipe model ("mf": AUC, log-loss, P/R/nDCG@10) beside the user + item bias model
    ("mf_bias") and the item like rate ("mf_item_rate") on the same held-out swipes, and the
    ratings model ("ratings": MAE/RMSE beside the training mean's), with the served MF
    parameters (else the latest tuning's, else the defaults), each where its data has both a
    training and a held-out part."""
    out = {}
    for name, kind, ratings in (
        ("mf", ModelRun.Kind.MF, False),
        ("ratings", ModelRun.Kind.RATINGS, True),
    ):
        try:
            swipes = load_swipes(ratings=ratings)
        except NoTrainingData:
            continue
        users, items = IdIndex.of(swipes.user_ids), IdIndex.of(swipes.item_ids)
        u, i = users.index_of(swipes.user_ids), items.index_of(swipes.item_ids)
        if split == "temporal":
            test = swipes.times >= _cutoff(swipes.times, days=days, test_fraction=test_fraction)
        else:
            test = holdout_mask(u, test_fraction=test_fraction, seed=seed)
        if (
            not test.any()
            or test.all()
            or (not ratings and len(np.unique(swipes.targets[test])) < 2)
        ):
            continue
        params = served_params(kind, mf.MfParams) or (
            mf.MfParams() if ratings else current_mf_params()
        )
        if params.is_bias_model:  # the bias model won the gate: score MF against it anyway
            params = current_mf_params()
        params = dataclasses.replace(params, seed=seed)
        _, out[name] = fit_and_score(
            u, i, swipes.targets, test,
            n_users=len(users), n_items=len(items), params=params, explicit=ratings,
        )  # fmt: skip
        if not ratings:
            _, baselines = swipe_baselines(
                u, i, swipes.targets, test, n_users=len(users), n_items=len(items), params=params
            )
            for baseline in ("bias", "item_rate"):
                out[f"mf_{baseline}"] = {
                    metric: baselines[f"{baseline}_{metric}"] for metric in ("auc", "log_loss")
                }
    return out
