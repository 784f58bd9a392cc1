"""The swipe model against its baselines, tuned on validation swipes, and the bias model
serving the deck where it wins."""

import dataclasses
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from recommendations import artifacts
from recommendations.ml import mf
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import Interaction, ModelRun
from recommendations.services.demo import generate_demo_data
from recommendations.services.precompute.decks import generate_decks
from recommendations.services.precompute.similar import generate_similar_items
from recommendations.services.publish import publish_catalog
from recommendations.services.training.mf import HELD_OUT, current_mf_params, train_mf_model
from tests import reads
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
HARD = ShopSpec.hard(users=500, items=200, events=50_000, groups=4, orders=300, seed=6)
FAST = mf.MfParams(factors=8, epochs=8, learning_rate=0.02, seed=0)


@pytest.fixture
def shop():
    demo = generate_demo_data(spec=HARD)
    publish_catalog()
    return demo


def test_tuning_records_every_trial_and_keeps_the_validation_winner(shop):
    run = train_mf_model(params=FAST, tune=3)
    assert len(run.trials) == 3
    assert run.trials[0]["params"] == FAST.as_dict()  # the starting point is a trial too
    winner = max(run.trials, key=lambda trial: trial["auc"])
    assert current_mf_params() == mf.MfParams(**winner["params"])
    as_bias = mf.bias_params(mf.MfParams(**winner["params"])).as_dict()
    assert run.params in (winner["params"], as_bias)
    assert {"auc", "bias_auc", "bias_log_loss", "item_rate_auc", "item_rate_log_loss"} <= set(
        run.metrics
    )
    assert run.published


def test_mf_is_served_where_it_beats_the_bias_baseline(shop):
    run = train_mf_model()
    assert run.metrics["auc"] > run.metrics["bias_auc"]
    assert run.params["factors"] > 0
    generate_decks()
    user_id = int(shop.user_ids[1])
    assert {e.source for e in reads.read_deck(user_id=user_id, limit=50)} == {"mf", "explore"}


def test_where_the_bias_baseline_wins_the_deck_uses_it_and_says_so(shop):
    overfitting = mf.MfParams(
        factors=64, epochs=3, learning_rate=1.0, regularization=0.0, negatives_per_positive=4.0,
        negative_weight=1.0, patience=5,
    )  # fmt: skip
    run = train_mf_model(params=overfitting)
    assert run.decision.startswith("the bias baseline beat MF")
    assert run.params["factors"] == 0
    assert run.metrics["mf_auc"] < run.metrics["bias_auc"] == pytest.approx(run.metrics["auc"])
    assert run.published
    generate_decks()
    user_id = int(shop.user_ids[1])
    deck = reads.read_deck(user_id=user_id, limit=50)
    assert {e.source for e in deck} == {"bias", "explore"}
    assert all(e.because is None for e in deck)  # a bias model has no "because you liked"
    body = (
        client_for(User.objects.get(pk=user_id))
        .get("/api/recommendations/predict/", {"item_id": deck[0].item_id})
        .json()
    )
    assert body["source"] == "personal"
    assert 0 < body["like_probability"] < 1
    generate_similar_items()  # no ALS served, and a bias model has no item factors: content
    assert {e.source for e in reads.read_similar(item_id=deck[0].item_id, limit=10)} == {"content"}


def test_evaluate_reports_mf_beside_the_bias_and_item_rate_baselines(shop, capsys):
    call_command("evaluate", "--split", "random", "--json")
    results = json.loads(capsys.readouterr().out)
    assert {"mf", "mf_bias", "mf_item_rate"} <= set(results)
    assert set(results["mf_bias"]) == {"auc", "log_loss"}
    assert results["mf"]["auc"] > results["mf_bias"]["auc"]
    assert results["mf_bias"]["auc"] > results["mf_item_rate"]["auc"] > 0.5


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--negative-weight", "-1"], "--negative-weight must be >= 0"),
     (["--regularization", "-0.1"], "--regularization must be >= 0"),
     (["--tune", "-2"], "--tune must be >= 0"),
     (["--tune", "2", "--ratings"], "tuning is for the swipe model")],
)  # fmt: skip
def test_bad_training_options_are_a_clear_error_and_train_nothing(shop, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("train_mf_model", *options)
    assert not ModelRun.objects.filter(kind__in=["mf", "ratings"], published=True).exists()


def test_the_command_tunes_and_later_runs_start_from_the_winner(shop, capsys):
    call_command("train_mf_model", "--tune", "2", "--epochs", "4")
    tuned = ModelRun.objects.filter(kind="mf").first()
    assert len(tuned.trials) == 2
    assert "auc" in capsys.readouterr().out
    call_command("train_mf_model")
    latest = ModelRun.objects.filter(kind="mf").first()
    best = max(tuned.trials, key=lambda trial: trial["auc"])["params"]
    assert latest.params in (best, mf.bias_params(mf.MfParams(**best)).as_dict())
    assert np.isfinite(latest.metrics["bias_auc"])


def test_a_later_run_carries_on_from_the_last_held_out_fit_and_learns_as_well(shop):
    swipes = Interaction.objects.filter(kind__in=Interaction.SWIPES)
    late = [e for e in swipes.order_by("pk") if e.pk % 30 == 0]  # arrive after the first run
    Interaction.objects.filter(pk__in=[e.pk for e in late]).delete()
    first = train_mf_model(params=FAST)
    assert "warm_start_run" not in first.metrics
    for event in late:
        event.pk = None  # stored again as new events
    Interaction.objects.bulk_create(late)

    warm = train_mf_model(params=FAST)
    assert warm.published
    assert warm.metrics["warm_start_run"] == first.pk
    assert warm.metrics["epochs"] < first.metrics["epochs"]
    assert warm.data_size["swipes"] == first.data_size["swipes"] + len(late)

    # The same data from scratch (the held-out fits are gone, as after pruning): same split,
    # the warm start learnt as well.
    artifacts.delete(artifacts.companion(warm.artifact_name, HELD_OUT))
    cold = train_mf_model(params=FAST)
    assert "warm_start_run" not in cold.metrics
    assert cold.data_size["held_out"] == warm.data_size["held_out"]
    assert warm.metrics["auc"] > cold.metrics["auc"] - 0.01
    assert warm.metrics["auc"] > warm.metrics["bias_auc"]

    # Other parameters never start from a model fitted with different ones.
    other = train_mf_model(params=dataclasses.replace(FAST, factors=4), force=True)
    assert "warm_start_run" not in other.metrics
    again = train_mf_model(params=dataclasses.replace(FAST, factors=4))
    assert again.metrics["warm_start_run"] == other.pk
