"""A/B experiments: sticky assignment that survives processes and share changes, a guest's
client id, one impression per read inside the read, outcomes for the variant the user is in,
stopping back to the default lists, a variant's own ALS lists, promotion, and the report's
statistics against a hand-worked example."""

import json
import math
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from recommendations import store
from recommendations.ml import experiments as stats
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import Experiment, ModelRun, Variant
from recommendations.services import experiments
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import run_pipeline
from recommendations.services.training.als import current_als_params
from tests.conftest import client_for
from tests.factories import UserFactory

SPEC = ShopSpec(users=300, items=160, events=9_000, groups=4, orders=600, seed=11)


@pytest.fixture
def shop(db):
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    return demo


def make(name: str, family: str = "top_buys", variants=(("control", 50, "default"),
         ("pop", 50, "popular"))) -> Experiment:  # fmt: skip
    experiment = Experiment.objects.create(name=name, family=family)
    for i, (variant, share, lists) in enumerate(variants):
        Variant.objects.create(
            experiment=experiment, name=variant, share=share, lists=lists,
            is_control=i == 0, position=i,
        )  # fmt: skip
    return experiment


def test_assignment_is_the_same_in_another_process():
    readers = [f"u:{n}" for n in range(50)] + ["c:phone-abcdef12"]
    here = [stats.bucket("salt-1", r) for r in readers]
    code = (
        "import json, sys; from recommendations.ml.experiments import bucket; "
        f"print(json.dumps([bucket('salt-1', r) for r in {readers!r}]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(there) == here
    assert len(set(here)) > 30  # spread over the buckets


def test_changing_shares_moves_only_the_users_it_must():
    before = stats.allocate([50, 50])
    after = stats.allocate([70, 30], before)
    assert after.count(0) == 700
    assert all(a == 0 for b, a in zip(before, after, strict=True) if b == 0)  # control stays
    assert sum(b != a for b, a in zip(before, after, strict=True)) == 200
    third = stats.allocate([40, 30, 30], after)
    assert sum(b != a for b, a in zip(after, third, strict=True)) == 300
    assert all(a == 1 for b, a in zip(after, third, strict=True) if b == 1)
    with pytest.raises(ValueError, match="add up to 100"):
        stats.allocate([60, 60])


def test_each_read_counts_one_impression_for_the_readers_variant(shop):
    experiment = make("impressions")
    experiments.start(experiment)
    running = experiments.running_for("top_buys")
    users = [int(u) for u in shop.user_ids[:40]]
    expected = {"control": 0, "pop": 0}
    for user_id in users:
        arm = running.arm_of(f"u:{user_id}")
        client = client_for(UserFactory.build(pk=user_id))
        for _ in range(2):
            body = client.get("/api/recommendations/top-buys/").json()
            assert body["experiment"] == {"name": "impressions", "variant": arm.name}
            assert body["source"] == ("popular" if arm.name == "pop" else "personal")
            expected[arm.name] += 1
    report = experiments.report(experiment)
    assert {a.name: a.impressions for a in report.arms} == expected
    assert {a.name: a.users for a in report.arms} == {k: v // 2 for k, v in expected.items()}
    assert min(expected.values()) > 0


def test_a_guest_keeps_one_variant_by_client_id_and_a_bad_id_is_refused(shop, api):
    experiment = make(
        "guests", family="trending", variants=(("control", 50, "default"), ("pop", 50, "popular"))
    )
    experiments.start(experiment)
    seen = {
        api.get("/api/recommendations/trending/", HTTP_X_CLIENT_ID="guest-0001").json()[
            "experiment"
        ]["variant"]
        for _ in range(5)
    }
    assert len(seen) == 1
    variants = {
        api.get("/api/recommendations/trending/", HTTP_X_CLIENT_ID=f"guest-{n:04d}").json()[
            "experiment"
        ]["variant"]
        for n in range(40)
    }
    assert variants == {"control", "pop"}
    anonymous = api.get("/api/recommendations/trending/").json()
    assert anonymous["experiment"] is None  # no id: the default list, no impression
    bad = api.get("/api/recommendations/trending/", HTTP_X_CLIENT_ID="x" * 65)
    assert bad.status_code == 400
    assert "X-Client-Id" in bad.json()["errors"]
    assert sum(a.impressions for a in experiments.report(experiment).arms) == 45


def test_events_count_for_the_variant_the_user_is_in_and_duplicates_once(
    shop, django_capture_on_commit_callbacks
):
    experiment = make("outcomes")
    experiments.start(experiment)
    running = experiments.running_for("top_buys")
    by_arm: dict[str, list[int]] = {"control": [], "pop": []}
    for user_id in (int(u) for u in shop.user_ids[:60]):
        by_arm[running.arm_of(f"u:{user_id}").name].append(user_id)
    buyer = by_arm["pop"][0]
    item = int(shop.item_ids[0])
    client = client_for(UserFactory.build(pk=buyer))
    client.get("/api/recommendations/top-buys/")  # served, then buys twice and likes
    event = {"item": item, "kind": "purchase", "event_id": "8d5b3c1e-0f43-4a5e-9a59-3b7c2f6e1d11"}
    with django_capture_on_commit_callbacks(execute=True):  # as after the request's commit
        assert client.post("/api/interactions/", event, format="json").status_code == 201
        client.post("/api/interactions/", event, format="json")  # the same event again
        client.post("/api/interactions/", {"item": item, "kind": "like"}, format="json")
        never_served = by_arm["control"][0]  # buys without having been served
        client_for(UserFactory.build(pk=never_served)).post(
            "/api/interactions/", {"item": item, "kind": "purchase"}, format="json"
        )
    report = {a.name: a for a in experiments.report(experiment).arms}
    assert report["pop"].counts["purchase"] == 1
    assert report["pop"].counts["like"] == 1
    assert report["pop"].users_with["purchase"] == 1
    assert report["control"].counts["purchase"] == 1  # counted for its variant
    assert report["control"].users_with["purchase"] == 0  # not a served user
    assert report["pop"].per_user["purchase"] == 1.0


def test_stopping_returns_everyone_to_the_default_lists(shop):
    experiment = make("stopper", variants=(("control", 0, "default"), ("pop", 100, "popular")))
    experiments.start(experiment)
    client = client_for(UserFactory.build(pk=int(shop.user_ids[3])))
    assert client.get("/api/recommendations/top-buys/").json()["source"] == "popular"
    call_command("experiment", "stop", "stopper")
    body = client.get("/api/recommendations/top-buys/").json()
    assert body["experiment"] is None
    assert body["source"] == "personal"


def test_an_als_variant_serves_its_own_lists_and_can_be_promoted(shop):
    call_command(
        "experiment", "create", "als-params", "--family", "top_buys",
        "--variant", "control:50", "--variant", 'wide:50:als:{"factors": 48}',
    )  # fmt: skip
    call_command("experiment", "start", "als-params")
    experiment = Experiment.objects.get(name="als-params")
    running = experiments.running_for("top_buys")
    user = next(int(u) for u in shop.user_ids if running.arm_of(f"u:{u}").name == "wide")
    client = client_for(UserFactory.build(pk=user))
    before = client.get("/api/recommendations/top-buys/").json()
    assert before["experiment"]["variant"] == "wide"
    assert before["fallback"] is True  # its lists are not built yet: the default, and says so
    served_before = ModelRun.objects.filter(kind="als", published=True).count()
    run_pipeline()
    after = client.get("/api/recommendations/top-buys/").json()
    assert after["fallback"] is False
    assert after["source"] == "personal"
    variant_run = ModelRun.objects.filter(kind="als", params__factors=48).get()
    assert not variant_run.published  # never the default model by itself
    assert ModelRun.objects.filter(kind="als", published=True).count() == served_before + 1
    assert after["version"] != before["version"]

    call_command("experiment", "promote", "als-params", "wide")
    experiment.refresh_from_db()
    assert experiment.status == "stopped"
    assert experiment.promoted == "wide"
    assert current_als_params().factors == 48
    assert client.get("/api/recommendations/top-buys/").json()["experiment"] is None


def test_bad_experiments_are_refused_clearly(db):
    with pytest.raises(CommandError, match="add up to 100"):
        call_command(
            "experiment", "create", "bad", "--family", "deck", "--variant", "a:50",
            "--variant", "b:40",
        )  # fmt: skip
    assert not Experiment.objects.filter(name="bad").exists()
    with pytest.raises(CommandError, match="top buys only"):
        call_command(
            "experiment", "create", "bad2", "--family", "deck", "--variant", "a:50",
            "--variant", "b:50:als",
        )  # fmt: skip
    make("first", family="deck")
    experiments.start(Experiment.objects.get(name="first"))
    second = make("second", family="deck")
    with pytest.raises(experiments.ExperimentError, match="already runs"):
        experiments.start(second)


def test_the_report_matches_a_hand_worked_example():
    # control 100 of 1,000 users bought, treatment 130 of 1,000.
    result = stats.compare(100, 1000, 130, 1000)
    pooled = 230 / 2000  # 0.115
    var = pooled * (1 - pooled) * (2 / 1000)  # 0.00020355
    tau2 = (0.2 * pooled) ** 2  # 0.000529
    log_lr = 0.5 * math.log(var / (var + tau2)) + tau2 * 0.03**2 / (2 * var * (var + tau2))
    assert result.p_value == pytest.approx(math.exp(-log_lr))
    assert result.p_value == pytest.approx(0.3844, abs=1e-3)  # exp(-(-0.6403 + 1.5965))
    assert result.z_test_p == pytest.approx(0.0355, abs=1e-3)  # z = 0.03 / 0.014267 = 2.103
    assert result.lift == pytest.approx(0.30)
    assert result.lift_low < 0.30 < result.lift_high
    # the split: 700 / 300 users where 50 / 50 was asked is flagged; 510 / 490 is not
    p, flagged = stats.sample_ratio_mismatch([700, 300], [50, 50])
    assert flagged
    assert p < 1e-30
    p, flagged = stats.sample_ratio_mismatch([510, 490], [50, 50])
    assert not flagged
    assert p == pytest.approx(0.5271, abs=1e-3)


def test_experiment_report_command_prints_json(shop):
    experiment = make("reported")
    experiments.start(experiment)
    client_for(UserFactory.build(pk=int(shop.user_ids[0]))).get("/api/recommendations/top-buys/")
    from io import StringIO

    out = StringIO()
    call_command("experiment_report", "reported", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert [a["name"] for a in body["arms"]] == ["control", "pop"]
    assert sum(a["impressions"] for a in body["arms"]) == 1
    assert "srm_p_value" in body
    assert store.client().exists(store.keys.experiments())


def test_staff_read_the_report_page_and_the_admin_edits_experiments(shop, client):
    experiment = make("paged")
    experiments.start(experiment)
    for user_id in shop.user_ids[:20]:
        client_for(UserFactory.build(pk=int(user_id))).get("/api/recommendations/top-buys/")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/dashboard/experiments/paged/").content.decode()
    assert "<svg" in page
    assert "the split matches the shares" in page
    assert 'data-variant="pop" data-outcome="purchase"' in page
    listing = client.get("/admin/dashboard/experiments/").content.decode()
    assert 'data-experiment="paged"' in listing
    assert client.get("/admin/recommendations/experiment/").status_code == 200
    user_page = client.get("/admin/dashboard/user/", {"q": str(shop.user_ids[0])})
    assert "In experiments:" in user_page.content.decode()
    client.force_login(UserFactory(is_staff=False))
    assert client.get("/admin/dashboard/experiments/paged/").status_code == 302


def test_a_deleted_running_experiment_stops_serving_and_its_counts_go(
    shop, django_capture_on_commit_callbacks
):
    experiment = make("deleted")
    experiments.start(experiment)
    client = client_for(UserFactory.build(pk=int(shop.user_ids[5])))
    assert client.get("/api/recommendations/top-buys/").json()["experiment"] is not None
    counters = store.client().keys(store.keys.experiment_pattern(experiment.pk))
    assert counters
    with django_capture_on_commit_callbacks(execute=True):
        experiment.delete()
    assert client.get("/api/recommendations/top-buys/").json()["experiment"] is None
    assert not store.client().exists(*counters)
