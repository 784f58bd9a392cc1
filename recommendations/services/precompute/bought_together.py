"""`generate_bought_together`: FP-Growth rules as sorted sets by lift."""

from django.conf import settings
from django.utils import timezone

from recommendations import artifacts, store
from recommendations.models import ModelRun
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


def generate_bought_together(*, n: int | None = None) -> PublishResult:
    """`product:{id}:bought_together` from the latest rules mined from the orders."""
    n = n or settings.PICKS_LIST_LENGTH
    run = served_run(ModelRun.Kind.BASKET)
    if run is None:
        raise NoServedModel("no basket rules are published: run train_market_basket first")
    rules = artifacts.load(run.artifact_name).rules
    active = active_item_ids()
    lists = bought_together_lists(rules, n=n)
    with store.publishing(store.BOUGHT_TOGETHER) as publication:
        for item, entries in lists.items():
            if item in active:
                kept = [(other, s) for other, s in entries if other in active]
                publication.put(item, [o for o, _ in kept], [s for _, s in kept])
        publication.commit(built_at=timezone.now().isoformat(), source="basket", model_run=run.pk)
    log_step(
        "generate_bought_together",
        "published",
        version=publication.version,
        lists=publication.lists,
    )
    return PublishResult(publication.version, publication.lists)
