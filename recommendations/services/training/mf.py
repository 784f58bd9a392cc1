"""`train_mf_model`: PyTorch MF on swipes (or ratings), its embeddings into Redis."""

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from django.utils import timezone

from recommendations import artifacts, store
from recommendations.ml import mf
from recommendations.ml.data import (
    IdIndex,
    build_matrix,
    holdout_mask,
    stable_uniform,
    top_k_of_products,
)
from recommendations.ml.evaluate import ranking_metrics
from recommendations.models import Interaction, ModelRun
from recommendations.services import tables
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.sql import FLOAT, INT, TIME, fetch_array
from recommendations.services.training.model_runs import (
    EVALUATED_USERS,
    NoTrainingData,
    apply_gate,
    latest_tuned_run,
    recorded_run,
    rival_params,
    served_run,
)

MF_GATE_METRIC = "auc"
HELD_OUT = "held-out"  # the companion artifact the next run warm-starts from
WARM_PATIENCE = 1  # a warm start stops at its first epoch without a better validation loss
# A warm start's learning rate, as a share of the params': Adam starts afresh and its first
# steps move every row they touch by about the learning rate. At the full rate, the 1M shop's
# warm model kept its AUC but lost nDCG@10 (0.0178 vs 0.0317 cold); at a fifth of it a warm
# start gains on a cold fit (docs/benchmarks.md, "Swipe model: warm start against cold").
WARM_LEARNING_RATE_SHARE = 0.2
WARM_MAX_EPOCHS = 3


@dataclass(frozen=True)
class MfArtifact:
    model: mf.MfModel
    users: IdIndex
    items: IdIndex


@dataclass(frozen=True)
class Swipes:
    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    targets: npt.NDArray[np.float32]
    times: npt.NDArray[np.float64]  # seconds since the epoch


@dataclass(frozen=True)
class HeldOut:
    """The models a run fitted without its held-out swipes (MF with the run's parameters, and
    the bias baseline): where the next run's held-out fits start, on the same split."""

    model: mf.MfModel
    bias: mf.MfModel | None
    users: IdIndex
    items: IdIndex
    test_fraction: float


@dataclass(frozen=True)
class Split:
    test: npt.NDArray[np.bool_]  # held out for scoring
    valid: npt.NDArray[np.bool_]  # early stopping's rows (none of them in `test`)


def stable_split(
    swipes: "Swipes", rows: npt.NDArray[np.int64], *, seed: int, test_fraction: float,
    validation_fraction: float,
) -> Split:  # fmt: skip
    """Held-out and validation swipes drawn from each swipe's own (user, item, time): a swipe
    stays on its side from run to run, so a model fitted on the last run's training side can
    carry on without having seen this run's held-out swipes (only a user's newly counted share
    moves a few of theirs across)."""
    keys = (swipes.user_ids, swipes.item_ids, (swipes.times * 1000).astype(np.int64))
    test = holdout_mask(
        rows, test_fraction=test_fraction, seed=seed, draws=stable_uniform(*keys, seed=seed)
    )
    valid = stable_uniform(*keys, seed=seed + 1) < validation_fraction
    return Split(test, valid & ~test)


def load_swipes(*, ratings: bool) -> Swipes:
    """Likes (1) and dislikes (0); or, with `ratings`, every event that carries a value."""
    if ratings:
        sql = (
            f"SELECT user_id, item_id, value, occurred_at FROM {tables.EVENTS} "
            "WHERE value IS NOT NULL"
        )
        array = fetch_array(sql, types=(INT, INT, FLOAT, TIME))
    else:
        sql = (
            "SELECT user_id, item_id, CASE WHEN kind = %s THEN 1 ELSE 0 END, occurred_at "
            f"FROM {tables.EVENTS} WHERE kind IN (%s, %s)"
        )
        kinds = [Interaction.Kind.LIKE, Interaction.Kind.LIKE, Interaction.Kind.DISLIKE]
        array = fetch_array(sql, kinds, types=(INT, INT, FLOAT, TIME))
    if not len(array):
        raise NoTrainingData("no swipes (or ratings) logged yet")
    return Swipes(
        array[:, 0].astype(np.int64),
        array[:, 1].astype(np.int64),
        array[:, 2].astype(np.float32),
        array[:, 3],
    )


def _ranking(model: mf.MfModel, train: tuple, test: tuple, n_items: int, k: int = 10) -> dict:
    """P/R/nDCG@k of the MF scores on held-out likes, training swipes filtered out, over at
    most EVALUATED_USERS users (a seeded sample), scored in batches."""
    (tu, ti, _), (su, si, sy) = train, test
    users = np.unique(su[sy > 0])
    if not len(users):
        return {}
    if len(users) > EVALUATED_USERS:
        users = np.sort(np.random.default_rng(0).choice(users, EVALUATED_USERS, replace=False))
    user_vectors, item_vectors = mf.embeddings(model)
    all_items = IdIndex(np.arange(n_items))
    seen = build_matrix(tu, ti, np.ones(len(tu)), users=IdIndex(np.arange(len(user_vectors))),
                        items=all_items).user_items  # fmt: skip

    def unseen(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        scores[seen[rows].nonzero()] = -np.inf
        return scores

    top = np.concatenate(
        [best for _, best, _ in top_k_of_products(
            user_vectors, item_vectors, k=k, rows=users, adjust=unseen
        )]
    )  # fmt: skip
    likes = (sy > 0) & np.isin(su, users)
    truth = build_matrix(su[likes], si[likes], np.ones(likes.sum()), users=IdIndex(users),
                         items=all_items).user_items  # fmt: skip
    return ranking_metrics(top, truth, k=k)


def _warm(params: mf.MfParams, init: mf.MfModel | None) -> dict:
    """`mf.fit`'s patience, learning rate and epochs for a fit from `init` (none: the
    params')."""
    if init is None:
        return {}
    return {
        "patience": WARM_PATIENCE,
        "learning_rate": params.learning_rate * WARM_LEARNING_RATE_SHARE,
        "max_epochs": WARM_MAX_EPOCHS,
    }


def fit_and_score(
    u: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    test: npt.NDArray[np.bool_],
    *,
    n_users: int,
    n_items: int,
    params: mf.MfParams,
    explicit: bool,
    valid: npt.NDArray[np.bool_] | None = None,
    init: mf.MfModel | None = None,
) -> tuple[mf.MfModel, dict[str, float]]:
    """MF fitted on the rows not in `test` (from `init` where given, a warm start), and its
    metrics on those in it: AUC, log-loss and P/R/nDCG@10 for swipes; MAE/RMSE beside the
    training mean's for ratings."""
    model, predicted = mf.fit_held_out(
        u, i, targets, test, n_users=n_users, n_items=n_items, params=params, explicit=explicit,
        on_epoch=lambda r: log_step("train_mf_model", "epoch", **r), valid=valid, init=init,
        **_warm(params, init),
    )  # fmt: skip
    if explicit:
        return model, mf.rating_metrics(
            targets[test], predicted, train_mean=float(targets[~test].mean())
        )
    return model, swipe_metrics(model, predicted, u, i, targets, test, n_items=n_items)


def swipe_metrics(
    model: mf.MfModel,
    predicted: npt.NDArray[np.float32],
    u: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    test: npt.NDArray[np.bool_],
    *,
    n_items: int,
) -> dict[str, float]:
    """AUC and log-loss of a swipe model's `predicted` like-probabilities of the `test` rows,
    and P/R/nDCG@10 of its ranking against their likes."""
    return {
        **mf.classification_metrics(targets[test], predicted),
        **_ranking(
            model, (u[~test], i[~test], targets[~test]), (u[test], i[test], targets[test]), n_items
        ),
    }


def swipe_baselines(
    u: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    test: npt.NDArray[np.bool_],
    *,
    n_users: int,
    n_items: int,
    params: mf.MfParams,
    valid: npt.NDArray[np.bool_] | None = None,
    init: mf.MfModel | None = None,
) -> tuple[mf.MfModel, dict[str, float]]:
    """The two baselines fitted on the rows not in `test`, scored (AUC, log-loss) on those
    in it: the user + item bias logistic model (`bias_`, with `params`' seed and device, from
    `init` where given; the model comes back too) and each item's smoothed like rate
    (`item_rate_`)."""
    bias, predicted = mf.fit_held_out(
        u, i, targets, test, n_users=n_users, n_items=n_items, params=mf.bias_params(params),
        valid=valid, init=init, **_warm(mf.bias_params(params), init),
    )  # fmt: skip
    rates = mf.item_like_rates(i[~test], targets[~test], n_items=n_items)
    out = {}
    for name, probabilities in (("bias", predicted), ("item_rate", rates[i[test]])):
        metrics = mf.classification_metrics(targets[test], probabilities)
        out.update({f"{name}_{metric}": value for metric, value in metrics.items()})
    return bias, out


def current_mf_params() -> mf.MfParams:
    """The swipe model parameters that won the latest tuning, else the defaults."""
    tuned = latest_tuned_run(ModelRun.Kind.MF)
    if tuned is None:
        return mf.MfParams()
    return mf.MfParams(**max(tuned.trials, key=lambda trial: trial[MF_GATE_METRIC])["params"])


def tune_mf(
    u: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    train: npt.NDArray[np.bool_],
    *,
    n_users: int,
    n_items: int,
    trials: int,
    first: mf.MfParams,
) -> tuple[mf.MfParams, list[dict]]:
    """Random search on a validation part (a fifth of each user's `train` swipes), best by
    AUC; the held-out swipes outside `train` are never looked at. The first trial is `first`,
    so tuning never ends worse than it started."""
    validation = mf.validation_part(u, train, seed=first.seed + 1)
    candidates = track(
        mf.search_candidates(first, trials=trials), job="tune_mf", total=trials, unit="trials"
    )
    recorded = mf.random_search(
        u[train], i[train], targets[train], validation[train],
        n_users=n_users, n_items=n_items, candidates=candidates,
    )  # fmt: skip
    best = max(recorded, key=lambda trial: trial[MF_GATE_METRIC])
    log_step("tune_mf", "best", auc=round(best[MF_GATE_METRIC], 4), trials=len(recorded))
    return mf.MfParams(**best["params"]), recorded


def train_mf_model(
    *,
    params: mf.MfParams | None = None,
    tune: int = 0,
    ratings: bool = False,
    force: bool = False,
    tolerance: float = 0.0,
    test_fraction: float = 0.2,
) -> ModelRun:
    """Train on swipes, score held-out swipes (AUC, log-loss, P/R/nDCG@10 beside the bias and
    item-rate baselines; MAE/RMSE for ratings), then continue on all swipes; publish the model
    and its embeddings if not worse. With `tune`, a random search on a validation part of the
    training swipes chooses the parameters first. Where the bias baseline beats MF on the
    held-out swipes, the bias model is the candidate instead (decks then say `bias`).

    The held-out split is drawn from each swipe's own values (`stable_split`), and the models
    fitted without it are stored beside the artifact: the next run with the same parameters
    starts its fits from them (new users and items fresh) and stops at the first epoch that
    does not improve, instead of training from scratch. Tuning starts from scratch.

    The ratings model is a kind of its own (and its embeddings a family of their own): it never
    competes with, or replaces, the swipe model that the decks and `predict` use.
    """
    if tune < 0:
        raise ValueError("tune must be 0 or more trials")
    if tune and ratings:
        raise ValueError("tuning is for the swipe model, not the ratings model")
    params = params or (mf.MfParams() if ratings else current_mf_params())
    swipes = load_swipes(ratings=ratings)
    users = IdIndex.of(swipes.user_ids)
    items = IdIndex.of(np.concatenate([swipes.item_ids, np.fromiter(active_item_ids(), np.int64)]))
    u, i = users.index_of(swipes.user_ids), items.index_of(swipes.item_ids)
    kind = ModelRun.Kind.RATINGS if ratings else ModelRun.Kind.MF
    metric = "rmse" if ratings else MF_GATE_METRIC

    with recorded_run(kind=kind, params=params.as_dict()) as run:
        split = stable_split(
            swipes, u, seed=params.seed, test_fraction=test_fraction,
            validation_fraction=params.validation_fraction,
        )  # fmt: skip
        test = split.test

        def scored(fit_params: mf.MfParams, init: mf.MfModel | None = None) -> tuple:
            return fit_and_score(
                u, i, swipes.targets, test, n_users=len(users), n_items=len(items),
                params=fit_params, explicit=ratings, valid=split.valid, init=init,
            )  # fmt: skip

        if tune:
            params, run.trials = tune_mf(
                u, i, swipes.targets, ~test, n_users=len(users), n_items=len(items),
                trials=tune, first=params,
            )  # fmt: skip
        warm = None if tune else warm_start(kind, params, users, items, test_fraction)
        model, run.metrics = scored(params, warm and warm.model)
        held_out = HeldOut(model, None, users, items, test_fraction)
        bias_won = ""
        if not ratings:
            bias, baselines = swipe_baselines(
                u, i, swipes.targets, test, n_users=len(users), n_items=len(items),
                params=params, valid=split.valid, init=warm and warm.bias,
            )  # fmt: skip
            held_out = dataclasses.replace(held_out, bias=bias)
            if baselines["bias_auc"] > run.metrics["auc"]:
                bias_won = (
                    f"the bias baseline beat MF (auc {baselines['bias_auc']:.4f} vs "
                    f"{run.metrics['auc']:.4f}), so it is the candidate; "
                )
                mf_metrics = {f"mf_{k}": v for k, v in run.metrics.items()}
                params, model = bias.params, bias
                predicted = mf.predict(bias, u[test], i[test])
                run.metrics = swipe_metrics(
                    bias, predicted, u, i, swipes.targets, test, n_items=len(items)
                )
                run.metrics.update(mf_metrics)
            run.metrics.update(baselines)
        run.params = params.as_dict()
        rival = None if force else rival_params(kind, params)
        rival_score = scored(rival)[1][metric] if rival is not None else None
        run.metrics["epochs"] = len(model.history)
        if warm is not None:
            run.metrics["warm_start_run"] = warm.run_id
        run.data_size = {
            "users": len(users),
            "items": len(items),
            "swipes": len(u),
            "held_out": int(test.sum()),
        }
        # A warm start: a few epochs over all swipes, not a second training from scratch.
        refit = dataclasses.replace(params, epochs=max(1, len(model.history) // 4))
        final = mf.fit(
            u, i, swipes.targets, n_users=len(users), n_items=len(items),
            params=refit, explicit=ratings, init=model, valid=split.valid,
            learning_rate=_warm(params, warm and warm.model).get("learning_rate"),
        )  # fmt: skip
        run.artifact_name = artifacts.save(kind=kind, obj=MfArtifact(final, users, items))
        artifacts.save_companion(run.artifact_name, HELD_OUT, held_out)
        apply_gate(
            run,
            force=force,
            tolerance=tolerance,
            rival_score=rival_score,
            metric=metric,
            higher_is_better=not ratings,
        )
        run.decision = (bias_won + run.decision)[:255]
        if run.published:
            family = store.RATINGS if ratings else store.MF
            publish_embeddings(
                final, users, items, run_id=run.pk, family=family, data_as_of=run.started_at
            )

    return run


@dataclass(frozen=True)
class WarmStart:
    run_id: int
    model: mf.MfModel
    bias: mf.MfModel | None


def warm_start(
    kind: str, params: mf.MfParams, users: IdIndex, items: IdIndex, test_fraction: float
) -> WarmStart | None:
    """The served run's held-out models carried over to this run's users and items, where
    they were fitted with `params` on a split of the same size; else None (train from
    scratch)."""
    run = served_run(kind)
    if run is None or not run.artifact_name:
        return None
    try:
        held = artifacts.load(artifacts.companion(run.artifact_name, HELD_OUT))
    except Exception:  # missing, pruned or from an older version: train from scratch
        return None
    if not isinstance(held, HeldOut) or held.model.params != params:
        return None
    if held.test_fraction != test_fraction:
        return None

    def carried(model: mf.MfModel | None) -> mf.MfModel | None:
        if model is None:
            return None
        ids = {"users": (held.users.ids, users.ids), "items": (held.items.ids, items.ids)}
        return mf.carried_over(model, **ids)

    log_step("train_mf_model", "warm start", run=run.pk)
    return WarmStart(run.pk, carried(held.model), carried(held.bias))


def publish_embeddings(
    model: mf.MfModel,
    users: IdIndex,
    items: IdIndex,
    *,
    run_id: int,
    data_as_of: datetime,
    family: str = store.MF,
) -> None:
    """User and item vectors into Redis: a like-probability (or rating) is one dot product
    away."""
    user_vectors, item_vectors = mf.embeddings(model)
    with store.publishing(family) as publication:
        publication.put_vectors("user", users.ids, user_vectors)
        publication.put_vectors("item", items.ids, item_vectors)
        publication.commit(
            built_at=timezone.now().isoformat(),
            data_as_of=data_as_of.timestamp(),
            model_run=run_id,
            explicit=model.explicit,
        )
