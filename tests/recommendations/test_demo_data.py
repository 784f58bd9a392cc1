import numpy as np
import pytest
from django.core.management import CommandError, call_command

from catalog.models import Item
from recommendations.ml.synthetic import ShopSpec, make_shop
from recommendations.models import Interaction, Order
from recommendations.services.demo import DemoDataExists, generate_demo_data

SMALL = ShopSpec(users=200, items=160, events=4000, seed=3)


def test_the_same_seed_draws_the_same_shop():
    a, b = make_shop(SMALL), make_shop(SMALL)
    assert np.array_equal(a.event_item, b.event_item)
    assert np.array_equal(a.pairs, b.pairs)
    assert not np.array_equal(
        a.event_item, make_shop(ShopSpec(**{**SMALL.__dict__, "seed": 4})).event_item
    )


def test_users_like_their_own_group_and_dislike_the_others():
    shop = make_shop(SMALL)
    own = shop.item_group[shop.event_item] == shop.user_group[shop.event_user]
    likes, dislikes = shop.event_kind == 0, shop.event_kind == 1
    assert own[likes].all()
    assert not own[dislikes].any()
    assert 0.8 < own.mean() < 0.9


def test_planted_pairs_are_bought_together_far_more_than_chance():
    shop = make_shop(SMALL)
    a, b = shop.pairs[0]
    orders_with = {item: set(shop.line_order[shop.line_item == item]) for item in (a, b)}
    together = len(orders_with[a] & orders_with[b])
    n_orders = len(shop.order_user)
    expected_by_chance = len(orders_with[a]) * len(orders_with[b]) / n_orders
    assert together > 5 * expected_by_chance


@pytest.mark.django_db
def test_the_demo_shop_is_written_once():
    demo = generate_demo_data(spec=SMALL)
    assert Item.objects.count() == 160
    assert Interaction.objects.count() == 4000
    assert Order.objects.count() == len(demo.shop.order_user)
    user_id = int(demo.user_ids[0])
    liked = set(
        Interaction.objects.filter(user_id=user_id, kind="like").values_list("item_id", flat=True)
    )
    assert liked <= demo.items_of_group(demo.group_of_user(user_id))
    with pytest.raises(DemoDataExists):
        generate_demo_data(spec=SMALL)


@pytest.mark.django_db
def test_bad_demo_options_are_a_clear_error():
    with pytest.raises(CommandError, match="--users must be at least 1"):
        call_command("generate_demo_data", "--users", "0")
