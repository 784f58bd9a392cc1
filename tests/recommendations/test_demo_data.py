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


def test_the_harder_shop_has_noise_biases_and_users_with_two_tastes():
    shop = make_shop(ShopSpec.hard(users=600, items=160, events=40_000, groups=4, seed=3))
    swipe = shop.event_kind <= 1
    users, items = shop.event_user[swipe], shop.event_item[swipe]
    liked = shop.event_kind[swipe] == 0
    in_taste = shop.in_taste(users, items)
    assert (liked & ~in_taste).any()  # likes outside the taste
    assert (~liked & in_taste).any()  # dislikes inside it
    assert liked[in_taste].mean() > liked[~in_taste].mean() + 0.3
    two_tastes = shop.user_second_group != shop.user_group
    assert 0.2 < two_tastes.mean() < 0.4
    second = shop.item_group[items] == shop.user_second_group[users]
    assert liked[second & two_tastes[users]].mean() > liked[~in_taste].mean() + 0.3
    like_rate = np.bincount(users, liked, 600) / np.maximum(np.bincount(users, minlength=600), 1)
    assert like_rate.max() > 0.95
    assert like_rate.min() < 0.4  # some users like almost everything, some little


def test_the_harder_shops_options_leave_the_clean_shop_as_it_was():
    clean = make_shop(SMALL)
    assert (clean.user_second_group == clean.user_group).all()
    hard = make_shop(ShopSpec.hard(**{**SMALL.__dict__, "noise": 0.2}))
    assert hard.spec.noise == 0.2
    assert np.array_equal(clean.item_category, hard.item_category)
    assert not np.array_equal(clean.event_kind, hard.event_kind)


@pytest.mark.django_db
def test_the_harder_demo_shop_is_written_by_the_command():
    call_command(
        "generate_demo_data", "--hard", "--noise", "0.3", "--users", "100", "--items", "64",
        "--events", "3000", "--groups", "4", "--no-pictures",
    )  # fmt: skip
    likes = Interaction.objects.filter(kind="like").values_list("user__username", "item__sku")
    outside = [(int(user.split("-")[1]) - int(sku.split("-")[1])) % 4 != 0 for user, sku in likes]
    assert 0.1 < np.mean(outside) < 0.6  # the clean shop has none (users' first taste only)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--noise", "1.5", "--noise must be between 0 and 1"),
     ("--user-bias", "-1", "--user-bias must be between 0 and 10"),
     ("--second-taste-share", "nan", "--second-taste-share must be between 0 and 1")],
)  # fmt: skip
def test_bad_harder_shop_options_are_a_clear_error(option, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_demo_data", "--hard", option, value, "--no-pictures")
    assert not Item.objects.exists()
