from django.conf import settings
from django.db import models

from catalog.models import Item


class Interaction(models.Model):
    """One event of a user on an item: a swipe, a view, a cart add or a purchase."""

    class Kind(models.TextChoices):
        LIKE = "like", "like (right swipe)"
        DISLIKE = "dislike", "dislike (left swipe)"
        VIEW = "view", "view"
        CART = "cart", "add to cart"
        PURCHASE = "purchase", "purchase"

    SWIPES = (Kind.LIKE, Kind.DISLIKE)

    # The client's id of the event, unique per user: one user's id never drops another's event.
    event_id = models.UUIDField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    item = models.ForeignKey(Item, on_delete=models.CASCADE)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.FloatField(null=True, blank=True, help_text="an explicit rating, if any")
    occurred_at = models.DateTimeField(help_text="when the client says it happened")
    received_at = models.DateTimeField(auto_now_add=True, help_text="when Picks stored it")

    class Meta:
        indexes = [
            models.Index(fields=["user", "kind"]),
            # The dashboard's events of today, and the admin's date drill-down
            models.Index(fields=["occurred_at"], name="interaction_occurred_at"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "event_id"], name="event_id_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.item_id}"


class Order(models.Model):
    """An invoice; `customer` is empty for a guest order."""

    invoice_no = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    country = models.CharField(max_length=64, blank=True)
    ordered_at = models.DateTimeField(db_index=True)
    is_cancelled = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.invoice_no


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    item = models.ForeignKey(Item, on_delete=models.CASCADE)
    quantity = models.IntegerField(help_text="negative on a cancellation")
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_no}"


class BatchMetadata(models.Model):
    """An incremental job's run counter and when it last ran."""

    job_name = models.CharField(max_length=64, unique=True)
    # When the last run that found something new ran (informational: rows are picked from the
    # pending queues, never by time).
    watermark = models.DateTimeField(null=True, blank=True)
    # Numbers the runs that wrote: each row a run writes carries it (see UserProductInteraction).
    batch = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "batch_metadata"
        verbose_name_plural = "batch metadata"

    def __str__(self) -> str:
        return f"{self.job_name} @ {self.watermark}"


class PendingInteraction(models.Model):
    """An event not yet folded into the scores. A database trigger adds the row in the
    transaction that inserts the event, whatever the write path (API, import, bulk COPY), and
    update_interactions deletes it in the transaction that folds the event in: an event that
    commits late is still taken, by the next run, exactly once."""

    id = models.BigIntegerField(primary_key=True, help_text="the Interaction's id")

    class Meta:
        db_table = "picks_pending_interaction"

    def __str__(self) -> str:
        return f"event {self.id}"


class PendingOrderLine(models.Model):
    """An order line not yet folded into the scores (as PendingInteraction)."""

    id = models.BigIntegerField(primary_key=True, help_text="the OrderLine's id")

    class Meta:
        db_table = "picks_pending_orderline"

    def __str__(self) -> str:
        return f"order line {self.id}"


class PendingRefresh(models.Model):
    """A user who acted since a refresher last rewrote their lists. Database triggers on
    events and order lines add a row in the transaction that inserts them (PostgreSQL: one
    per user and insert statement; SQLite: one per row); a refresher deletes a user's rows in
    the transaction that refreshes them, so a refresher that dies loses nothing, and an event
    that commits during a refresh leaves a row for the next one."""

    id = models.BigAutoField(primary_key=True)
    user_id = models.BigIntegerField(db_index=True)

    class Meta:
        db_table = "picks_pending_refresh"

    def __str__(self) -> str:
        return f"refresh user {self.user_id}"


class UserProductInteraction(models.Model):
    """A user's aggregated affinity for an item, what the models train on. Written only by
    update_interactions: training's score snapshot trusts each row's batch number."""

    # A table derived from events and orders, rebuilt by update_interactions: no database-level
    # foreign keys (their deferred checks cost more than the insert itself on a full rebuild;
    # Django still cascades deletes), and the unique (user, product) index serves user lookups.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    product = models.ForeignKey(Item, on_delete=models.CASCADE, db_constraint=False)
    score = models.FloatField()
    last_updated_at = models.DateTimeField()
    # The update_interactions run (BatchMetadata.batch) that last wrote the row: training reads
    # only the rows changed since its stored snapshot (services/scores.py).
    batch = models.BigIntegerField(default=0, db_index=True)
    # The user bought the item (an order not cancelled, or a purchase event): top buys leave
    # it out.
    bought = models.BooleanField(default=False)

    class Meta:
        db_table = "user_product_interactions"
        constraints = [
            models.UniqueConstraint(fields=["user", "product"], name="user_product_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.product_id} {self.score:.2f}"


class ScoreSnapshot(models.Model):
    """A stored copy of the positive rows of user_product_interactions, complete up to a
    batch: training reads it and only the rows written since (services/scores.py)."""

    artifact_name = models.CharField(max_length=255)
    through_batch = models.BigIntegerField()
    rows = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.artifact_name} ({self.rows} rows through batch {self.through_batch})"


class ModelRun(models.Model):
    """One training run: what went in, how it scored, and whether it was published."""

    class Kind(models.TextChoices):
        ALS = "als", "implicit ALS"
        MF = "mf", "PyTorch MF"
        RATINGS = "ratings", "PyTorch MF on ratings"
        BASKET = "basket", "FP-Growth rules"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    params = models.JSONField(default=dict)
    data_size = models.JSONField(default=dict)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    metrics = models.JSONField(default=dict)
    trials = models.JSONField(default=list, blank=True)
    artifact_name = models.CharField(max_length=255, blank=True)
    published = models.BooleanField(default=False)
    decision = models.CharField(max_length=255, blank=True, help_text="why it was (not) published")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"


class JobRun(models.Model):
    """One run of a batch job, by itself or as a step of a `run_pipeline` run (`pipeline`):
    when, how long, how it ended, and the error of a failed one (the staff dashboard)."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        SKIPPED = "skipped", "skipped"
        FAILED = "failed", "failed"

    job = models.CharField(max_length=64)
    pipeline = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="steps"
    )
    holder = models.CharField(max_length=128, blank=True, help_text="host and process id")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    outcome = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"])]
        permissions = [("rollback_lists", "Can roll back the served lists")]

    def __str__(self) -> str:
        return f"{self.job} #{self.pk} {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class Experiment(models.Model):
    """An A/B test of one list family: users split among variants by a hash (sticky), each
    variant serving its own lists; impressions and outcomes are counted in Redis per variant
    (recommendations/services/experiments.py)."""

    class Family(models.TextChoices):
        TOP_BUYS = "top_buys", "top buys"
        DECK = "deck", "swipe deck"
        SIMILAR = "similar", "similar items"
        BOUGHT_TOGETHER = "bought_together", "bought together"
        TRENDING = "trending", "trending"

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        RUNNING = "running", "running"
        STOPPED = "stopped", "stopped"

    name = models.SlugField(max_length=64, unique=True)
    family = models.CharField(max_length=20, choices=Family.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    salt = models.CharField(max_length=32, blank=True, help_text="set on creation; never change")
    buckets = models.JSONField(default=list, blank=True, help_text="bucket -> variant index")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    promoted = models.CharField(max_length=64, blank=True, help_text="the variant made default")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["family"],
                condition=models.Q(status="running"),
                name="one_running_experiment_per_family",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.family}, {self.status})"


class Variant(models.Model):
    """One arm of an experiment: its share of users and the lists it serves: `default` (the
    family's published lists: the control), `popular` (the global popular list for everyone)
    or `als` (top buys from an ALS of its own `params`, published by the pipeline)."""

    class Lists(models.TextChoices):
        DEFAULT = "default", "the family's published lists"
        POPULAR = "popular", "the global popular list"
        ALS = "als", "top buys from an ALS with these parameters"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.SlugField(max_length=64)
    share = models.PositiveSmallIntegerField(help_text="percent of users")
    lists = models.CharField(max_length=10, choices=Lists.choices, default=Lists.DEFAULT)
    params = models.JSONField(default=dict, blank=True, help_text="ALS parameters for `als`")
    is_control = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="variant_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.experiment.name}:{self.name}"
