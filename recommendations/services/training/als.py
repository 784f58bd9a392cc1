"""`train_als_model`: implicit ALS with random-search tuning, gated on held-out pairs."""

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from recommendations import artifacts
from recommendations.ml import als, popularity
from recommendations.ml.data import (
    IdIndex,
    ScoreTable,
)
from recommendations.ml.evaluate import compare_with_popularity, ranking_metrics
from recommendations.ml.scores import ScoreRows
from recommendations.models import ModelRun
from recommendations.services.clock import run_time
from recommendations.services.progress import log_step, track
from recommendations.services.scores import current_scores
from recommendations.services.training.model_runs import (
    EVALUATED_USERS,
    GATE_METRIC,
    NoTrainingData,
    apply_gate,
    latest_tuned_run,
    recorded_run,
    rival_params,
)


@dataclass(frozen=True)
class AlsArtifact:
    model: object  # implicit's AlternatingLeastSquares
    users: IdIndex
    items: IdIndex
    params: als.AlsParams


def positive_scores(
    rows: ScoreRows, *, users: IdIndex | None = None, items: IdIndex | None = None
) -> ScoreTable:
    """The rows with a positive score, ages counted from the run's time (a row dated after it
    counts as age 0), over `users` x `items` (by default the ids they hold)."""
    positive = rows.scores > 0
    return ScoreTable.of(
        rows.user_ids[positive],
        rows.item_ids[positive],
        rows.scores[positive],
        np.maximum(run_time().timestamp() - rows.times[positive], 0) / 86_400,
        users=users,
        items=items,
    )


def load_scores() -> ScoreTable:
    """Every positive row of user_product_interactions (see positive_scores)."""
    data = positive_scores(current_scores())
    if not len(data.scores):
        raise NoTrainingData("user_product_interactions is empty: run update_interactions first")
    return data


def current_als_params() -> als.AlsParams:
    """The winner of the latest tuning, else the stated defaults."""
    tuned = latest_tuned_run(ModelRun.Kind.ALS)
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
    serve: bool = True,
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
    with recorded_run(kind=ModelRun.Kind.ALS, params=params.as_dict()) as run:
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
        rival = None if force or not serve else rival_params(ModelRun.Kind.ALS, params)
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
        if serve:
            apply_gate(run, force=force, tolerance=tolerance, rival_score=rival_score)
        else:  # an experiment variant's model: its lists are the variant's only
            run.published, run.decision = False, "not served by default: an experiment variant"

    return run


def _split_matrices(
    data: ScoreTable, test: np.ndarray, params: als.AlsParams
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The whole ALS input and the same without the `test` pairs."""
    full = data.matrix(half_life_days=params.half_life_days)
    train = full - data.matrix(half_life_days=params.half_life_days, mask=test)
    train.eliminate_zeros()  # the held-out pairs (each pair is one entry, so exactly 0)
    return full, train


def replace_params(params: als.AlsParams, **changes: object) -> als.AlsParams:
    """`params` with the given (non-None) options changed."""
    return replace(params, **{k: v for k, v in changes.items() if v is not None})
