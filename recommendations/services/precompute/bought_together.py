"""`generate_bought_together`: FP-Growth rules as sorted sets by lift."""

from django.conf import settings
from django.utils import timezone

from recommendations import artifacts, store
from recommendations.ml import spark
from recommendations.models import ModelRun
from recommendations.services import engines
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step
from recommendations.services.publish import active_item_ids
from recommendations.services.training.model_runs import NoServedModel, served_run


def bought_together_lists(rules: object, *, n: int) -> dict[int, list[tuple[int, float]]]:
    """Per item, the items of single-item rules item -> other, by lift then confidence."""
    single = rules[rules["antecedents"].map(len) == 1]
    out: dict[int, list[tuple[int, float]]] = {}
    ordered = single.sort_values(["lift", "confidence"], ascending=False)
    for antecedents, consequents, lift, confidence in ordered[
        ["antecedents", "consequents", "lift", "confidence"]
    ].itertuples(index=False):
        (item,), (other,) = tuple(antecedents), tuple(consequents)
        entries = out.setdefault(int(item), [])
        if len(entries) < n:
            # A sorted set orders by score alone: confidence (< 1) breaks ties of lift.
            entries.append((int(other), round(float(lift), 6) + float(confidence) * 1e-7))
    return out


def _write_on_spark(
    publication: store.Publication, lists: dict[int, list[tuple[int, float]]]
) -> None:
    """The sorted sets written into `publication`'s version by Spark's executors, partition
    by partition, from Parquet staged through the artifacts storage."""
    rows = [(item, other, score) for item, kept in lists.items() for other, score in kept]
    template = publication.key_template(spark.OWNER)
    with engines.staged("bought-together", spark.sorted_sets_parquet(rows)) as path:
        spark.write_sorted_sets(
            engines.spark(), path, redis_url=engines.redis_url(), template=template,
            partitions=settings.SPARK_LIST_PARTITIONS,
        )  # fmt: skip
    sample = [template.replace(spark.OWNER, str(item)) for item in list(lists)[:8]]
    publication.written_elsewhere(lists=len(lists), sample=sample)


def generate_bought_together(*, n: int | None = None, engine: str | None = None) -> PublishResult:
    """`product:{id}:bought_together` from the latest rules mined from the orders; on Spark
    (`engine`, default the PICKS_ENGINE setting) the executors write the sorted sets."""
    engine = engines.chosen(engine)
    n = n or settings.PICKS_LIST_LENGTH
    run = served_run(ModelRun.Kind.BASKET)
    if run is None:
        raise NoServedModel("no basket rules are published: run train_market_basket first")
    rules = artifacts.load(run.artifact_name).rules
    active = active_item_ids()
    lists = {  # active items' lists of active items, none left empty
        item: kept
        for item, entries in bought_together_lists(rules, n=n).items()
        if item in active and (kept := [(other, s) for other, s in entries if other in active])
    }
    with store.publishing(store.BOUGHT_TOGETHER) as publication:
        if engine == "spark":
            _write_on_spark(publication, lists)
        else:
            for item, kept in lists.items():
                publication.put(item, [o for o, _ in kept], [s for _, s in kept])
        publication.commit(
            built_at=timezone.now().isoformat(), source="basket", model_run=run.pk, engine=engine
        )
    log_step(
        "generate_bought_together",
        "published",
        version=publication.version,
        lists=publication.lists,
    )
    return PublishResult(publication.version, publication.lists)
