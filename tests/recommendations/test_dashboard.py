"""The staff dashboard inside the admin: every page for staff and none for anyone else, the
one-user view equal to what the API serves that user, job runs recorded with their errors,
rollback only with the right and after a confirmation, and counts that add up."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import User
from recommendations import store
from recommendations.dashboard import queries
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import Interaction, JobRun
from recommendations.services import pipeline as pipeline_service
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import run_pipeline
from tests.conftest import client_for
from tests.factories import ItemFactory, UserFactory

PAGES = [
    "/admin/dashboard/",
    "/admin/dashboard/pipeline/",
    "/admin/dashboard/models/",
    "/admin/dashboard/lists/",
    "/admin/dashboard/user/",
    "/admin/dashboard/lists/top_buys/rollback/",
    "/admin/dashboard/experiments/",
]
SPEC = ShopSpec(users=200, items=160, events=8_000, groups=4, orders=500, seed=5)


@pytest.fixture
def shop(db):
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    return demo


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


def listed_ids(html: str, name: str) -> list[int]:
    """The item ids one list of the one-user view shows, in order."""
    block = html.split(f'data-list="{name}"', 1)[1].split('class="picks-list"', 1)[0]
    return [int(i) for i in re.findall(r'data-item-id="(\d+)"', block)]


def api_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["item"]["id"] for r in response.json()["results"]]


def test_every_page_renders_for_staff_with_its_charts(shop, staff, client):
    call_command("train_als_model", "--tune", "3")  # a tuned run: the trials scatter
    client.force_login(staff)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
    overview = client.get("/admin/dashboard/").content.decode()
    assert overview.count("<svg") >= 3  # events by kind, orders, new users
    assert "Events per day by kind" in overview
    models = client.get("/admin/dashboard/models/").content.decode()
    assert "Tuning trials of run" in models
    assert "popularity" in models  # the baseline line's label
    assert "published" in models
    index = client.get("/admin/").content.decode()
    assert "/admin/dashboard/pipeline/" in index  # linked from the admin's home


@pytest.mark.parametrize("path", PAGES)
def test_guests_and_non_staff_are_sent_to_the_admin_login(db, client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    client.force_login(UserFactory(is_staff=False))
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_non_staff_post_cannot_roll_back(shop, client):
    run_pipeline()  # a previous version to go back to
    live = store.live_version(store.TOP_BUYS)
    client.force_login(UserFactory(is_staff=False))
    client.post("/admin/dashboard/lists/top_buys/rollback/")
    assert store.live_version(store.TOP_BUYS) == live


def test_rollback_asks_first_and_needs_its_permission(shop, client):
    run_pipeline()
    live, previous = store.live_version(store.TOP_BUYS), store.previous_version(store.TOP_BUYS)
    assert previous is not None
    assert previous != live

    plain_staff = UserFactory(is_staff=True)
    client.force_login(plain_staff)
    assert client.get("/admin/dashboard/lists/").status_code == 200
    assert client.post("/admin/dashboard/lists/top_buys/rollback/").status_code == 403
    assert store.live_version(store.TOP_BUYS) == live

    plain_staff.user_permissions.add(Permission.objects.get(codename="rollback_lists"))
    client.force_login(plain_staff)
    confirm = client.get("/admin/dashboard/lists/top_buys/rollback/")
    assert f"serve version {previous} again" in confirm.content.decode()
    assert store.live_version(store.TOP_BUYS) == live  # asking changed nothing
    done = client.post("/admin/dashboard/lists/top_buys/rollback/")
    assert done.status_code == 302
    assert store.live_version(store.TOP_BUYS) == previous
    assert store.previous_version(store.TOP_BUYS) == live
    assert client.post("/admin/dashboard/lists/no_such_family/rollback/").status_code == 404


def test_the_one_user_view_shows_exactly_what_the_api_serves_that_user(shop, staff, client):
    user = User.objects.get(pk=int(shop.user_ids[7]))
    liked = Interaction.objects.filter(user=user, kind="like").order_by("-occurred_at", "-pk")
    last_like = liked.values_list("item_id", flat=True).first()
    assert last_like is not None
    api = client_for(user)
    expected = {
        "Top buys": api_ids(api.get("/api/recommendations/top-buys/")),
        "Swipe deck": api_ids(api.get("/api/recommendations/deck/")),
        f"Similar to their last like (item {last_like})": api_ids(
            api.get(f"/api/recommendations/similar/{last_like}/")
        ),
        "Trending": api_ids(api.get("/api/recommendations/trending/")),
    }
    client.force_login(staff)
    for asked in (str(user.pk), user.username, user.external_id):
        if not asked:
            continue
        html = client.get("/admin/dashboard/user/", {"q": asked}).content.decode()
        for name, ids in expected.items():
            assert ids, name
            assert listed_ids(html, name) == ids, (asked, name)
    missing = client.get("/admin/dashboard/user/", {"q": "nobody-by-that-name"})
    assert "No user with id, username or external id" in missing.content.decode()


def test_pipeline_runs_and_their_steps_are_recorded_with_the_error_of_a_failed_one(
    shop, staff, client, monkeypatch
):
    run = JobRun.objects.get(job="run_pipeline")
    steps = list(run.steps.order_by("started_at"))
    assert run.status == "succeeded"
    assert run.finished_at >= run.started_at
    assert [s.job for s in steps] == [
        name for name, _ in pipeline_service._steps(tune=0, force=False)
    ]
    assert all(s.status == "succeeded" and s.seconds >= 0 for s in steps)
    assert "lists published as version" in steps[3].outcome

    def broken() -> None:
        raise RuntimeError("similar items exploded on purpose")

    monkeypatch.setattr(pipeline_service, "generate_similar_items", broken)
    with pytest.raises(RuntimeError):
        run_pipeline()
    failed = JobRun.objects.filter(job="run_pipeline").order_by("-started_at").first()
    assert failed.status == "failed"
    step = failed.steps.get(job="generate_similar_items")
    assert step.status == "failed"
    assert "similar items exploded on purpose" in step.error
    assert not failed.steps.filter(job="prune_artifacts").exists()  # the run stopped there

    client.force_login(staff)
    page = client.get("/admin/dashboard/pipeline/").content.decode()
    assert "similar items exploded on purpose" in page
    assert "No run holds the pipeline lock." in page


def test_the_pipeline_page_names_a_run_in_progress(shop, staff, client):
    with pipeline_service.pipeline_lock(ttl_seconds=60):
        JobRun.objects.create(job="run_pipeline", holder="worker-7:123", started_at=timezone.now())
        client.force_login(staff)
        page = client.get("/admin/dashboard/pipeline/").content.decode()
    assert "A run holds the pipeline lock" in page
    assert "worker-7:123" in page


def test_a_job_run_on_its_own_is_recorded_and_so_is_its_failure(db):
    with pytest.raises(CommandError):
        call_command("generate_top_buys")  # no model yet
    failed = JobRun.objects.get(job="generate_top_buys")
    assert failed.status == "failed"
    assert failed.pipeline is None
    assert "model" in failed.error.lower()
    call_command("update_interactions")
    assert JobRun.objects.get(job="update_interactions").status == "succeeded"


def test_overview_counts_events_per_day_and_marks_stale_families(db, staff, client):
    now = timezone.now()
    users = UserFactory.create_batch(3)
    items = [*ItemFactory.create_batch(4), ItemFactory(is_active=False)]
    days = {0: ("like", 3), 2: ("view", 2), 200: ("cart", 5)}  # the last is out of the window
    for back, (kind, count) in days.items():
        for n in range(count):
            Interaction.objects.create(
                user=users[n % 3], item=items[n % 4], kind=kind,
                occurred_at=now - dt.timedelta(days=back),
            )  # fmt: skip
    data = queries.overview(now=now)
    assert data.items_active == 4
    assert data.items_inactive == 1
    assert data.users == User.objects.count() == 4  # and the staff member
    at = {day: n for n, day in enumerate(data.events.days)}
    today, two_back = now.date(), (now - dt.timedelta(days=2)).date()
    assert data.events.series["like"][at[today]] == 3
    assert data.events.series["view"][at[two_back]] == 2
    assert sum(data.events.series["cart"]) == 0
    assert data.events_window == 5
    assert len(data.events.days) == 90

    # an event of today shows at once; the earlier days' counts are cached for a while
    Interaction.objects.create(user=users[0], item=items[0], kind="like", occurred_at=now)
    assert queries.overview(now=now).events.series["like"][at[today]] == 4

    with store.publishing(store.TOP_BUYS) as fresh:
        fresh.put(1, [items[0].pk], [1.0])
        fresh.commit(built_at=now.isoformat())
    with store.publishing(store.SIMILAR) as old:
        old.put(items[0].pk, [items[1].pk], [1.0])
        old.commit(built_at=(now - dt.timedelta(hours=3)).isoformat())
    client.force_login(staff)
    page = client.get("/admin/dashboard/").content.decode()
    assert 'data-family="top_buys" data-stale="false"' in page
    assert 'data-family="similar" data-stale="true"' in page
    assert 'data-family="deck" data-stale="false"' in page  # never published: not stale


def test_served_lists_show_versions_lists_and_memory(shop, staff, client):
    meta = store.version_meta(store.TOP_BUYS)
    assert meta["lists"] > 0
    assert meta["memory_bytes"] > 0
    per_list = meta["memory_bytes"] / meta["lists"]
    assert 20 < per_list < 20_000  # a packed list of 20 records and its key
    client.force_login(staff)
    page = client.get("/admin/dashboard/lists/").content.decode()
    row = page.split('data-family="top_buys"', 1)[1].split("</tr>", 1)[0]
    assert f"<td>{store.live_version(store.TOP_BUYS)}</td>" in row
    assert "model run #" in row
    assert "<td>exact</td>" in row  # a small shop's top buys score every item
