import argparse
import dataclasses

from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.ml.synthetic import ShopSpec
from recommendations.services.demo import DemoDataExists, generate_demo_data


class Command(JobCommand):
    help = "Write a synthetic fashion shop with planted taste groups (the demo and test data)."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = ShopSpec()
        parser.add_argument("--users", type=int, default=defaults.users)
        parser.add_argument("--items", type=int, default=defaults.items)
        parser.add_argument("--events", type=int, default=defaults.events)
        parser.add_argument("--groups", type=int, default=defaults.groups)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        hard = ShopSpec.hard()
        parser.add_argument(
            "--hard",
            action="store_true",
            help=(
                f"the harder shop: --noise {hard.noise} --user-bias {hard.user_bias} "
                f"--item-bias {hard.item_bias} --second-taste-share {hard.second_taste_share} "
                "unless given"
            ),
        )
        parser.add_argument("--noise", type=float, help="share of swipes flipped at random")
        parser.add_argument("--user-bias", type=float, help="sd of users' log-odds of a like")
        parser.add_argument("--item-bias", type=float, help="sd of items' log-odds of a like")
        parser.add_argument(
            "--second-taste-share", type=float, help="share of users with a second taste group"
        )
        parser.add_argument(
            "--pictures",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="draw a picture per item into the media storage (--no-pictures: none)",
        )

    def handle(self, *args: object, pictures: bool, hard: bool, **options: int) -> None:
        for name in ("users", "items", "events", "groups"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        if options["items"] < 8 * options["groups"]:
            raise CommandError("--items must be at least 8 per group")
        for name in ("noise", "second_taste_share"):
            if options[name] is not None and not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        for name in ("user_bias", "item_bias"):
            if options[name] is not None and not 0 <= options[name] <= 10:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 10")
        spec = (ShopSpec.hard if hard else ShopSpec)(
            users=options["users"],
            items=options["items"],
            events=options["events"],
            groups=options["groups"],
            seed=options["seed"],
        )
        tastes = ("noise", "user_bias", "item_bias", "second_taste_share")
        spec = dataclasses.replace(
            spec, **{name: options[name] for name in tastes if options[name] is not None}
        )
        try:
            demo = generate_demo_data(spec=spec, pictures=pictures)
        except DemoDataExists as exc:
            self.stdout.write(f"nothing to do: {exc}")
            return
        self.stdout.write(
            f"demo shop: {len(demo.user_ids)} users, {len(demo.item_ids)} items, "
            f"{spec.events} events, {len(demo.shop.line_item)} order lines"
        )
