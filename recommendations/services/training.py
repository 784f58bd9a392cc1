"""Training jobs: ALS (with random-search tuning), FP-Growth rules; each recorded as a ModelRun."""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from django.utils import timezone

from recommendations import artifacts
from recommendations.ml import als, basket, popularity
from recommendations.ml.data import IdIndex, ScoreTable
from recommendations.ml.evaluate import compare_with_popularity, ranking_metrics
from recommendations.models import ModelRun, OrderLine
from recommendations.services.clock import run_time
from recommendations.services.progress import log_step, track
from recommendations.services.scores import current_scores

logger = logging.getLogger(__name__)
GATE_METRIC = "ndcg@10"
P = TypeVar("P")
EVALUATED_USERS = 5000


class NoTrainingData(Exception):
    """There is nothing to learn from yet."""


class NoServedModel(Exception):
    """No model of that kind has been published."""


@dataclass(frozen=True)
class AlsArtifact:
    model: object  # implicit's AlternatingLeastSquares
    users: IdIndex
    items: IdIndex
    params: als.AlsParams


@dataclass(frozen=True)
class BasketArtifact:
    rules: object  # pandas DataFrame of association rules over item ids
    params: basket.BasketParams


def load_scores() -> ScoreTable:
    """Every positive row of user_product_interactions, ages counted from the run's time (a
    row dated after it counts as age 0)."""
    rows = current_scores()
    positive = rows.scores > 0
    if not positive.any():
        raise NoTrainingData("user_product_interactions is empty: run update_interactions first")
    times = rows.times[positive]
    return ScoreTable.of(
        rows.user_ids[positive],
        rows.item_ids[positive],
        rows.scores[positive],
        np.maximum(run_time().timestamp() - times, 0) / 86_400,
    )


def record_run(run: ModelRun, work: Callable[[ModelRun], None]) -> ModelRun:
    """Run `work` on a recorded run; a failure is recorded too, then raised. A run never stays
    "running": whatever `work` or the save of its results raises marks it failed."""
    started = time.perf_counter()
    try:
        work(run)
        run.status = ModelRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.metrics = _json_safe(
            {**run.metrics, "duration_seconds": round(time.perf_counter() - started, 3)}
        )
        run.trials = _json_safe(run.trials)
        run.save()
    except BaseException as exc:
        ModelRun.objects.filter(pk=run.pk).update(
            status=ModelRun.Status.FAILED,
            decision=f"failed: {exc!r}"[:255],
            finished_at=timezone.now(),
            published=False,
        )
        run.refresh_from_db()
        raise
    return run


def _json_safe(value: object) -> object:
    """Metrics as JSON can store them: a NaN or infinite number becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# ---- ALS ---------------------------------------------------------------------------------


def current_als_params() -> als.AlsParams:
    """The winner of the latest tuning, else the stated defaults."""
    tuned = (
        ModelRun.objects.filter(kind=ModelRun.Kind.ALS, status=ModelRun.Status.SUCCEEDED)
        .exclude(trials=[])
        .first()
    )
    return als.AlsParams(**tuned.params) if tuned else als.AlsParams()


def evaluate_als(
    data: ScoreTable,
    train: np.ndarray,
    test: np.ndarray,
    params: als.AlsParams,
    *,
    k: int = 10,
    max_users: int = EVALUATED_USERS,
    seed: int = 0,
    matrix: sp.csr_matrix | None = None,
) -> tuple[object, dict[str, float]]:
    """ALS fitted on the `train` pairs (their matrix, if already built) and its metrics on the
    `test` pairs beside popularity, over at most `max_users` users with held-out pairs (a
    seeded sample beyond that)."""
    if matrix is None:
        matrix = data.matrix(half_life_days=params.half_life_days, mask=train)
    model = als.fit(matrix, params)
    truth = data.indicator(test)
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    top, _ = als.top_n(model, matrix, n=k, users=users)
    popular = popularity.top_n_popular(matrix, n=k, exclude_seen=matrix[users])
    return model, compare_with_popularity(top, popular, truth[users], k=k)


def _sample_params(rng: np.random.Generator, seed: int) -> als.AlsParams:
    return als.AlsParams(
        factors=int(rng.choice([16, 32, 64, 128])),
        regularization=float(10 ** rng.uniform(-2, 0.5)),
        alpha=float(10 ** rng.uniform(-1, 1.3)),
        iterations=int(rng.choice([10, 15, 25])),
        half_life_days=float(rng.choice([7, 15, 30, 90, 365])),
        seed=seed,
    )


def tune_als(
    data: ScoreTable, train: np.ndarray, *, trials: int, seed: int, k: int = 10
) -> tuple[als.AlsParams, list[dict]]:
    """Random search on a validation split cut from the `train` pairs; the best by nDCG@k.

    The first trial is the current parameters, so tuning never ends worse than it started.
    """
    validation = data.holdout(test_fraction=0.2, seed=seed + 1, within=train)
    fit_part = train & ~validation
    truth = data.indicator(validation)
    rng = np.random.default_rng(seed)
    candidates = [current_als_params(), *(_sample_params(rng, seed) for _ in range(trials - 1))]
    recorded = []
    for params in track(candidates, job="tune_als", unit="trials"):
        matrix = data.matrix(half_life_days=params.half_life_days, mask=fit_part)
        top, _ = als.top_n(als.fit(matrix, params), matrix, n=k)
        score = ranking_metrics(top, truth, k=k)[f"ndcg@{k}"]
        recorded.append({"params": params.as_dict(), f"ndcg@{k}": score})
        log_step("tune_als", "trial", **params.as_dict(), ndcg=round(score, 4))
    best = max(recorded, key=lambda trial: trial[f"ndcg@{k}"])
    return als.AlsParams(**best["params"]), recorded


def served_run(kind: str) -> ModelRun | None:
    """The most recently published run of a kind."""
    return ModelRun.objects.filter(kind=kind, published=True).first()


def rival_params(kind: str, params: P) -> P | None:
    """The served run's parameters of `kind` if they differ from `params`: the gate then
    trains them on the candidate's split too, so both are scored on the same held-out data in
    the same run (scores from different samples differ by chance alone). None when nothing is
    served, its parameters are the same, or they no longer fit (a run of an older shape)."""
    served = served_run(kind)
    if served is None:
        return None
    names = {f.name for f in fields(params)}
    try:
        other = type(params)(**{k: v for k, v in served.params.items() if k in names})
    except TypeError:
        return None
    return other if other != params else None


def apply_gate(
    run: ModelRun,
    *,
    force: bool,
    tolerance: float,
    rival_score: float | None,
    metric: str = GATE_METRIC,
    higher_is_better: bool = True,
) -> None:
    """Publish `run` unless the served model's parameters, trained and scored on the same
    split in this run (`rival_score`), did better beyond `tolerance`. With the served
    parameters the candidate is the served model on newer data: it is published."""
    served = served_run(run.kind)
    sign = 1 if higher_is_better else -1
    new = run.metrics.get(metric, 0.0)
    if rival_score is not None:
        run.metrics[f"served_params_{metric}"] = rival_score
    if force:
        run.published, run.decision = True, "published (forced)"
    elif served is None:
        run.published, run.decision = True, "published: first model"
    elif not artifacts.readable(served.artifact_name):
        run.published = True
        run.decision = f"published: served run #{served.pk} has no readable artifact"
        logger.warning("served %s run #%s: artifact missing or unreadable", run.kind, served.pk)
    elif rival_score is None:
        run.published = True
        run.decision = f"published: the served parameters on newer data ({metric} {new:.4f})"
    elif sign * new >= sign * rival_score - tolerance:
        run.published = True
        run.decision = f"published: {metric} {new:.4f} vs served parameters {rival_score:.4f}"
    else:
        run.published = False
        run.decision = (
            f"kept served run #{served.pk}: {metric} {new:.4f} vs its parameters "
            f"{rival_score:.4f} on the same held-out data"
        )


def evaluation_holdout(
    data: ScoreTable, *, test_fraction: float, seed: int, max_users: int = EVALUATED_USERS
) -> np.ndarray:
    """Held-out pairs (`test_fraction` of each user's) of at most `max_users` users with two or
    more pairs, a seeded sample: enough to score a model, and so few that the model trained
    without them is the one to serve once those users' factors are folded back in."""
    eligible = np.flatnonzero(np.bincount(data.rows, minlength=len(data.users)) >= 2)
    if len(eligible) > max_users:
        eligible = np.random.default_rng(seed).choice(eligible, max_users, replace=False)
    chosen = np.zeros(len(data.users), bool)
    chosen[eligible] = True
    return data.holdout(test_fraction=test_fraction, seed=seed, within=chosen[data.rows])


def train_als_model(
    *,
    params: als.AlsParams | None = None,
    tune: int = 0,
    force: bool = False,
    tolerance: float = 0.0,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> ModelRun:
    """One fit without a held-out sample of users' pairs, scored on them for the quality gate;
    then those users' factors are recomputed from all their pairs, and that model is stored
    and gated. (No second training: the held-out pairs are a small share of the data.)"""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    if tune < 0:
        raise ValueError("tune must be 0 or more trials")
    data = load_scores()
    params = params or current_als_params()
    run = ModelRun.objects.create(kind=ModelRun.Kind.ALS, params=params.as_dict())

    def work(run: ModelRun) -> None:
        nonlocal params
        test = evaluation_holdout(data, test_fraction=test_fraction, seed=seed)
        if tune:
            params, run.trials = tune_als(data, ~test, trials=tune, seed=seed)
            run.params = params.as_dict()
        run.data_size = {
            "users": len(data.users),
            "items": len(data.items),
            "interactions": len(data.scores),
            "held_out": int(test.sum()),
        }
        full, train = _split_matrices(data, test, params)
        model, run.metrics = evaluate_als(data, ~test, test, params, seed=seed, matrix=train)
        log_step("train_als_model", "evaluated", ndcg=round(run.metrics[GATE_METRIC], 4))
        rival = None if force else rival_params(ModelRun.Kind.ALS, params)
        rival_score = None
        if rival is not None:
            _, rival_metrics = evaluate_als(
                data, ~test, test, rival, seed=seed,
                matrix=_split_matrices(data, test, rival)[1],
            )  # fmt: skip
            rival_score = rival_metrics[GATE_METRIC]
        evaluated = np.unique(data.rows[test])
        als.fold_in_users(model, full, evaluated)
        run.artifact_name = artifacts.save(
            kind="als", obj=AlsArtifact(model, data.users, data.items, params)
        )
        apply_gate(run, force=force, tolerance=tolerance, rival_score=rival_score)

    return record_run(run, work)


def _split_matrices(
    data: ScoreTable, test: np.ndarray, params: als.AlsParams
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The whole ALS input and the same without the `test` pairs."""
    full = data.matrix(half_life_days=params.half_life_days)
    train = full - data.matrix(half_life_days=params.half_life_days, mask=test)
    train.eliminate_zeros()  # the held-out pairs (each pair is one entry, so exactly 0)
    return full, train


def load_served_als() -> tuple[ModelRun, AlsArtifact]:
    """The published ALS run and its artifact."""
    run = served_run(ModelRun.Kind.ALS)
    if run is None:
        raise NoServedModel("no ALS model is published: run train_als_model first")
    return run, artifacts.load(run.artifact_name)


# ---- market basket -------------------------------------------------------------------------


def order_baskets() -> list[list[int]]:
    """Item ids per non-cancelled invoice (guest orders too), lines with a positive quantity."""
    pairs = np.array(
        OrderLine.objects.filter(order__is_cancelled=False, quantity__gt=0)
        .order_by("order_id")
        .values_list("order_id", "item_id"),
        dtype=np.int64,
    ).reshape(-1, 2)
    if not len(pairs):
        return []
    splits = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    return [part.tolist() for part in np.split(pairs[:, 1], splits)]


def file_baskets(path: Path) -> list[list[str]]:
    """One basket per non-empty line, items separated by commas."""
    with path.open(encoding="utf-8") as f:
        return [
            [item.strip() for item in line.split(",") if item.strip()] for line in f if line.strip()
        ]


def train_market_basket(
    *, params: basket.BasketParams, baskets_file: Path | None = None
) -> ModelRun:
    """Mine FP-Growth rules from the orders (or a basket file) and record their counts."""
    params.check()
    baskets = file_baskets(baskets_file) if baskets_file else order_baskets()
    if not baskets:
        raise NoTrainingData("no baskets: import or push orders first")
    source = str(baskets_file.name) if baskets_file else "orders"
    run = ModelRun.objects.create(
        kind=ModelRun.Kind.BASKET, params={**params.__dict__, "source": source}
    )

    def work(run: ModelRun) -> None:
        mined = basket.mine(baskets, params)
        run.data_size = {
            "baskets": len(baskets),
            "items": len({item for b in baskets for item in b}),
        }
        run.metrics = {
            "itemsets": len(mined.itemsets),
            "itemsets_by_length": basket.itemset_counts_by_length(mined.itemsets),
            "rules": len(mined.rules),
            "rules_by_length": basket.rule_counts_by_length(mined.rules),
        }
        if baskets_file is None:
            run.artifact_name = artifacts.save(
                kind="basket", obj=BasketArtifact(mined.rules, params)
            )
            run.published, run.decision = True, "published: rules from the orders"
        else:
            run.decision = "not served: mined from a file"

    return record_run(run, work)


def replace_params(params: als.AlsParams, **changes: object) -> als.AlsParams:
    """`params` with the given (non-None) options changed."""
    return replace(params, **{k: v for k, v in changes.items() if v is not None})
