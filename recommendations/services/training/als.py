"""`train_als_model`: the top-buys model (implicit ALS, blended with item-item neighbours and
recent demand where validation says so), tuned on a recent window, gated on held-out pairs."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from recommendations import artifacts
from recommendations.ml import als, blend, popularity
from recommendations.ml.data import IdIndex, ScoreTable, stable_uniform
from recommendations.ml.evaluate import compare_with_popularity
from recommendations.ml.scores import ScoreRows
from recommendations.models import ModelRun
from recommendations.services import engines
from recommendations.services.clock import run_time
from recommendations.services.event_log import load_events
from recommendations.services.progress import log_step
from recommendations.services.scores import current_scores
from recommendations.services.training.model_runs import (
    EVALUATED_USERS,
    GATE_METRIC,
    NoTrainingData,
    apply_gate,
    latest_tuned_run,
    recorded_run,
    rival_params,
    served_run,
)

VALIDATION_DAYS = 30.0  # tuning's validation window: the last month of events


@dataclass(frozen=True)
class AlsArtifact:
    """The served top-buys model. `similarity` and `demand` are the blend's other parts
    (ml/blend.py), None where their weight is 0 (and in artifacts from before blends)."""

    model: object  # implicit's AlternatingLeastSquares
    users: IdIndex
    items: IdIndex
    params: als.AlsParams
    similarity: sp.csr_matrix | None = None
    demand: np.ndarray | None = None

    @property
    def blended(self) -> blend.Blend:
        return blend.Blend(
            self.model, getattr(self, "similarity", None), getattr(self, "demand", None),
            self.params,
        )  # fmt: skip


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


def demand_of(
    data: ScoreTable, params: als.AlsParams, mask: np.ndarray | None = None
) -> np.ndarray | None:
    """The items' recent demand from the (masked) pairs, where the blend uses it."""
    if params.trend_weight <= 0:
        return None
    keep = np.ones(len(data.scores), bool) if mask is None else mask
    return blend.recent_demand(
        data.cols[keep], data.age_days[keep], n_items=len(data.items), days=params.trend_days
    )


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
    fit_als: Callable[[als.AlsParams], object] | None = None,
) -> tuple[blend.Blend, dict[str, float]]:
    """The model fitted on the `train` pairs (their matrix, if already built; its ALS part by
    `fit_als`, another engine, where given) and its metrics on the `test` pairs beside
    popularity, over at most `max_users` users with held-out pairs (a seeded sample beyond)."""
    if matrix is None:
        matrix = data.matrix(half_life_days=params.half_life_days, mask=train)
    model = blend.fit_parts(
        matrix,
        params,
        demand=demand_of(data, params, train),
        model=als.fit(matrix, params) if fit_als is None else fit_als(params),
    )
    truth = data.indicator(test)
    users = blend.sample_users(truth, max_users=max_users, seed=seed)
    top, _ = blend.top_n(model, matrix, matrix, n=k, users=users)
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
    data: ScoreTable,
    train: np.ndarray,
    *,
    trials: int,
    seed: int,
    start: als.AlsParams | None = None,
    validation: blend.Validation | None = None,
) -> tuple[als.AlsParams, list[dict]]:
    """Search ALS (`trials` parameter sets: `start`, by default the current parameters, and
    random ones) and then its blends (ml/blend.tune) on a validation window: the last
    VALIDATION_DAYS of events (`validation`, by default cut from every event), with a random
    hold-out of the `train` pairs as the guard. Where that window holds nothing to score (all
    events on one day, say), the random hold-out is the validation itself."""
    start = start or current_als_params()
    guard = blend.random_guard(
        data.subset(train), test_fraction=0.2, seed=seed + 1, max_users=EVALUATED_USERS
    )
    if validation is None:
        validation = recent_validation(seed=seed)
    if validation is None or not len(validation.users):
        validation, guard = guard, None
    rng = np.random.default_rng(seed)
    candidates = [_sample_params(rng, seed) for _ in range(max(trials - 1, 0))]
    return blend.tune(
        validation, start=start, candidates=candidates, guard=guard,
        on_trial=lambda trial: log_step(
            "tune_als", "trial", family=trial["family"], ndcg=round(trial["ndcg@10"], 4)
        ),
    )  # fmt: skip


def recent_validation(*, seed: int, days: float = VALIDATION_DAYS) -> blend.Validation | None:
    """The last `days` of events held out (new items only), the rest to learn from; None
    when there are no events."""
    try:
        events = load_events()
    except NoTrainingData:
        return None
    users, items = IdIndex.of(events.user_ids), IdIndex.of(events.item_ids)
    return blend.temporal_validation(
        events.user_ids, events.item_ids, events.weights, events.times,
        cutoff=events.times.max() - days * 86_400, users=users, items=items,
        max_users=EVALUATED_USERS, seed=seed,
    )  # fmt: skip


def evaluation_holdout(
    data: ScoreTable, *, test_fraction: float, seed: int, max_users: int = EVALUATED_USERS
) -> np.ndarray:
    """Held-out pairs (`test_fraction` of each user's) of at most `max_users` users with two or
    more pairs: enough to score a model, and so few that the model trained without them is the
    one to serve once those users' factors are folded back in. Users and pairs are drawn from
    their ids (`stable_uniform`), so the next run holds out the same ones: a model fitted in
    this run never saw the next run's held-out pairs, and it can start from this one."""
    eligible = np.flatnonzero(np.bincount(data.rows, minlength=len(data.users)) >= 2)
    if len(eligible) > max_users:
        draws = stable_uniform(data.users.ids[eligible], seed=seed)
        eligible = eligible[np.argsort(draws, kind="stable")[:max_users]]
    chosen = np.zeros(len(data.users), bool)
    chosen[eligible] = True
    return data.holdout(
        test_fraction=test_fraction, seed=seed, within=chosen[data.rows], stable=True
    )


def warm_fitter(
    data: ScoreTable, test: np.ndarray, params: als.AlsParams, matrix: sp.csr_matrix
) -> tuple[int, Callable[[als.AlsParams], object]] | None:
    """Where the served model was fitted with `params`: its run and an ALS fit of `matrix`
    that starts from its factors (the held-out users' own started afresh) for
    `warm_iterations` instead of training from random factors; else None."""
    run = served_run(ModelRun.Kind.ALS)
    if run is None or not run.artifact_name:
        return None
    try:
        served = artifacts.load(run.artifact_name)
    except Exception:  # missing or unreadable: train from scratch
        return None
    if served.params != params or getattr(served.model, "user_factors", None) is None:
        return None
    init = als.carried_factors(
        served.model, users=(served.users.ids, data.users.ids),
        items=(served.items.ids, data.items.ids), fresh=np.unique(data.rows[test]),
        seed=params.seed,
    )  # fmt: skip
    log_step("train_als_model", "warm start", run=run.pk)
    iterations = warm_iterations(params)
    return run.pk, lambda p: als.fit(matrix, p, init=init, iterations=iterations)


def warm_iterations(params: als.AlsParams) -> int:
    """A warm start's iterations: a fifth of the params' (at least 2)."""
    return max(2, -(-params.iterations // 5))


def train_als_model(
    *,
    params: als.AlsParams | None = None,
    tune: int = 0,
    force: bool = False,
    tolerance: float = 0.0,
    test_fraction: float = 0.2,
    seed: int = 0,
    serve: bool = True,
    engine: str | None = None,
    warm: bool = True,
) -> ModelRun:
    """One fit without a held-out sample of users' pairs, scored on them for the quality gate;
    then those users' factors are recomputed from all their pairs, and that model is stored
    and gated. (No second training: the held-out pairs are a small share of the data. A
    blend's demand is counted again over every pair: it is what sells now.)

    `engine` (default the PICKS_ENGINE setting): "spark" fits ALS on Spark (ml/spark.py) from
    the pairs stored once as Parquet; tuning, the blend's other parts, fold-in and the gate
    stay here.

    Where the served model has the same parameters (and no tuning runs, on the local engine,
    `warm`), the fit starts from its factors for a fifth of the iterations (`warm_fitter`).
    """
    engine = engines.chosen(engine)
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    if tune < 0:
        raise ValueError("tune must be 0 or more trials")
    data = load_scores()
    params = params or current_als_params()
    with (
        recorded_run(kind=ModelRun.Kind.ALS, params=params.as_dict()) as run,
        ExitStack() as stack,
    ):
        test = evaluation_holdout(data, test_fraction=test_fraction, seed=seed)
        fit_als = None if engine == "local" else stack.enter_context(spark_fitter(data, test))
        if tune:
            params, run.trials = tune_als(data, ~test, trials=tune, seed=seed)
            run.params = params.as_dict()
        run.data_size = {
            "users": len(data.users),
            "items": len(data.items),
            "interactions": len(data.scores),
            "held_out": int(test.sum()),
            "engine": engine,
        }
        full, train = _split_matrices(data, test, params)
        started = None
        if warm and not tune and engine == "local":
            started = warm_fitter(data, test, params, train)
        model, run.metrics = evaluate_als(
            data, ~test, test, params, seed=seed, matrix=train,
            fit_als=fit_als if started is None else started[1],
        )  # fmt: skip
        if started is not None:
            run.metrics["warm_start_run"] = started[0]
        log_step("train_als_model", "evaluated", ndcg=round(run.metrics[GATE_METRIC], 4))
        rival = None if force or not serve else rival_params(ModelRun.Kind.ALS, params)
        rival_score = None
        if rival is not None:
            _, rival_metrics = evaluate_als(
                data, ~test, test, rival, seed=seed,
                matrix=_split_matrices(data, test, rival)[1], fit_als=fit_als,
            )  # fmt: skip
            rival_score = rival_metrics[GATE_METRIC]
        evaluated = np.unique(data.rows[test])
        als.fold_in_users(model.model, full, evaluated)
        served = replace(model, demand=demand_of(data, params))  # demand from every pair
        run.artifact_name = artifacts.save(
            kind="als",
            obj=AlsArtifact(
                served.model, data.users, data.items, params, served.similarity, served.demand
            ),
        )
        if serve:
            apply_gate(run, force=force, tolerance=tolerance, rival_score=rival_score)
        else:  # an experiment variant's model: its lists are the variant's only
            run.published, run.decision = False, "not served by default: an experiment variant"

    return run


@contextmanager
def spark_fitter(
    data: ScoreTable, test: np.ndarray | None = None
) -> Iterator[Callable[[als.AlsParams], object]]:
    """ALS fitted on Spark on `data`'s pairs but the `test` ones: the pairs leave this process
    once, as Parquet through the artifacts storage, deleted when the block ends."""
    from recommendations.ml import spark

    parquet = spark.scores_parquet(data.rows, data.cols, data.scores, data.age_days, test)
    with engines.staged("scores", parquet) as path:
        yield lambda params: spark.fit_als(
            engines.spark(), path, params, shape=(len(data.users), len(data.items))
        )


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
