import pytest

from recommendations.models import ModelRun
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_see_model_runs_with_their_metrics_and_a_chart(client):
    for ndcg in (0.2, 0.25, 0.3):
        ModelRun.objects.create(
            kind="als",
            status="succeeded",
            metrics={"ndcg@10": ndcg, "baseline_ndcg@10": 0.1},
            published=True,
            decision="published: first model",
        )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/recommendations/modelrun/").content.decode()
    assert "0.3000" in page
    assert "<svg" in page
    assert "popularity" in page
    assert "ALS ndcg@10 over the last 3 runs" in page


def test_staff_see_the_swipe_models_auc_beside_the_bias_models(client):
    ModelRun.objects.create(
        kind="mf", status="succeeded", metrics={"auc": 0.7447, "bias_auc": 0.6525},
        published=True, decision="published: first model",
    )  # fmt: skip
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/recommendations/modelrun/").content.decode()
    assert "Bias model AUC" in page
    assert "0.7447" in page
    assert "0.6525" in page


@pytest.mark.parametrize(
    "path",
    [
        "/admin/catalog/item/",
        "/admin/accounts/user/",
        "/admin/recommendations/interaction/",
        "/admin/recommendations/order/",
        "/admin/recommendations/userproductinteraction/",
        "/admin/recommendations/batchmetadata/",
    ],
)
def test_every_admin_page_opens(client, path):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(path).status_code == 200


def test_the_derived_scores_cannot_be_added_or_edited_by_hand(client):
    """update_interactions owns the table; training's snapshot relies on it."""
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/admin/recommendations/userproductinteraction/add/").status_code == 403
