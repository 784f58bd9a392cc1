from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.ml.basket import BasketParams
from recommendations.services.engines import ENGINES
from recommendations.services.training.basket import train_market_basket
from recommendations.services.training.model_runs import NoTrainingData


class Command(JobCommand):
    help = "Mine FP-Growth association rules from the orders (or a basket file)."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = BasketParams()
        parser.add_argument("--min-support", type=float, default=defaults.min_support)
        parser.add_argument("--min-confidence", type=float, default=defaults.min_confidence)
        parser.add_argument("--min-lift", type=float, default=defaults.min_lift)
        parser.add_argument("--max-len", type=int, default=defaults.max_len)
        parser.add_argument(
            "--baskets", type=Path, help="one basket per line, items separated by commas"
        )
        parser.add_argument(
            "--engine", choices=ENGINES, help="local (mlxtend) or spark; default PICKS_ENGINE"
        )

    def handle(self, *args: object, **options: object) -> None:
        params = BasketParams(
            min_support=options["min_support"],
            min_confidence=options["min_confidence"],
            min_lift=options["min_lift"],
            max_len=options["max_len"],
        )
        baskets = options["baskets"]
        if baskets is not None and not baskets.is_file():
            raise CommandError(f"no such file: {baskets}")
        try:
            run = train_market_basket(params=params, baskets_file=baskets, engine=options["engine"])
        except (NoTrainingData, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        m = run.metrics
        self.stdout.write(f"baskets: {run.data_size['baskets']}, items: {run.data_size['items']}")
        self.stdout.write(f"frequent itemsets: {m['itemsets']} by length {m['itemsets_by_length']}")
        self.stdout.write(f"rules: {m['rules']} by length {m['rules_by_length']}")
        self.stdout.write(f"model run #{run.pk}: {run.decision}")
