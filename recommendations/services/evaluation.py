"""`evaluate`: the current models trained on one part of the data and scored on the rest."""

import dataclasses
from contextlib import ExitStack

import numpy as np
import numpy.typing as npt

from recommendations.ml import blend, mf
from recommendations.ml.data import IdIndex, aggregate, holdout_mask
from recommendations.ml.scores import pair_keys
from recommendations.models import ModelRun
from recommendations.services import engines
from recommendations.services.event_log import load_events
from recommendations.services.training.als import (
    VALIDATION_DAYS,
    current_als_params,
    spark_fitter,
    tune_als,
)
from recommendations.services.training.mf import (
    current_mf_params,
    fit_and_score,
    load_swipes,
    swipe_baselines,
)
from recommendations.services.training.model_runs import (
    EVALUATED_USERS,
    NoTrainingData,
    served_params,
)

SPLITS = ("temporal", "random")


def evaluate_models(
    *,
    split: str,
    test_fraction: float = 0.25,
    k: int = 10,
    seed: int = 0,
    days: float | None = None,
    tune: int = 0,
    engine: str | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics per model on the held-out part of the chosen split: the top-buys families
    side by side ("als", item-item "bm25", "tfidf", "cosine", recent demand "trend", the
    served parameters' "blend", and "popularity"; see ml/blend.compare_families), then "mf"
    with its baselines "mf_bias" and "mf_item_rate", and "ratings", where there are swipes or
    ratings.

    temporal: the last `days` (or the last `test_fraction` of the time span) are held out, and
    only items a user had not had before count. random: `test_fraction` of each user's items.
    The swipe models are scored on held-out swipes (or ratings) cut the same way.

    The top-buys parameters are the current ones (the latest tuning's: it may have seen the
    held-out part), or with `tune` trials ones tuned here as train_als_model tunes, on the
    training part alone (its own last VALIDATION_DAYS, a random hold-out of its pairs as the
    guard), so nothing is tuned on what is scored. `engine` "spark" fits ALS on Spark (tuning
    stays here).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    if not 0 < test_fraction < 1 or k < 1 or tune < 0:
        raise ValueError("test_fraction must be between 0 and 1, k at least 1 and tune 0 or more")
    events = load_events()
    users, items = IdIndex.of(events.user_ids), IdIndex.of(events.item_ids)
    params = dataclasses.replace(current_als_params(), seed=seed)
    if split == "temporal":
        cutoff = _cutoff(events.times, days=days, test_fraction=test_fraction)
        held_out = blend.temporal_validation(
            events.user_ids, events.item_ids, events.weights, events.times,
            cutoff=cutoff, users=users, items=items, max_users=len(users), seed=seed,
        )  # fmt: skip
        if tune:
            before = events.times < cutoff
            validation = blend.temporal_validation(
                events.user_ids[before], events.item_ids[before], events.weights[before],
                events.times[before], cutoff=cutoff - VALIDATION_DAYS * 86_400,
                users=users, items=items, max_users=EVALUATED_USERS, seed=seed,
            )  # fmt: skip
            params, _ = tune_als(
                held_out.table, np.ones(len(held_out.table.scores), bool),
                trials=tune, seed=seed, start=params, validation=validation,
            )  # fmt: skip
    else:
        table = aggregate(
            events.user_ids, events.item_ids, events.weights, events.times,
            now=events.times.max(), users=users, items=items,
        ).positive()  # fmt: skip
        held = table.holdout(test_fraction=test_fraction, seed=seed)
        held_out = blend.held_out_validation(table, held, max_users=len(users), seed=seed)
        if tune:  # as train_als_model tunes: its last month, of the pairs not held out
            train = held_out.table
            kept = ~np.isin(
                pair_keys(events.user_ids, events.item_ids),
                pair_keys(table.user_ids[held], table.item_ids[held]),
            )
            validation = blend.temporal_validation(
                events.user_ids[kept], events.item_ids[kept], events.weights[kept],
                events.times[kept], cutoff=events.times.max() - VALIDATION_DAYS * 86_400,
                users=users, items=items, max_users=EVALUATED_USERS, seed=seed,
            )  # fmt: skip
            params, _ = tune_als(
                train, np.ones(len(train.scores), bool), trials=tune, seed=seed, start=params,
                validation=validation,
            )  # fmt: skip
    with ExitStack() as stack:
        fit_als = None
        if engines.chosen(engine) == "spark":
            fit_als = stack.enter_context(spark_fitter(held_out.table))
        families = blend.compare_families(held_out, params, k=k, fit_als=fit_als)
    return {
        **families,
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
