import argparse

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
        parser.add_argument(
            "--pictures",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="draw a picture per item into the media storage (--no-pictures: none)",
        )

    def handle(self, *args: object, pictures: bool, **options: int) -> None:
        for name in ("users", "items", "events", "groups"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        if options["items"] < 8 * options["groups"]:
            raise CommandError("--items must be at least 8 per group")
        spec = ShopSpec(
            users=options["users"],
            items=options["items"],
            events=options["events"],
            groups=options["groups"],
            seed=options["seed"],
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
