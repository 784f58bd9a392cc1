from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.ml import als, blend
from recommendations.services.engines import ENGINES
from recommendations.services.training.als import (
    current_als_params,
    replace_params,
    train_als_model,
)
from recommendations.services.training.model_runs import NoTrainingData


class Command(JobCommand):
    help = (
        "Train the top-buys model (implicit ALS, or its blend with item-item neighbours and "
        "recent demand) on the aggregated scores; publish it if it is not worse."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--factors", type=int)
        parser.add_argument("--iterations", type=int)
        parser.add_argument("--regularization", type=float)
        parser.add_argument("--alpha", type=float, help="confidence scale of the scores")
        parser.add_argument(
            "--half-life-days", type=float, help="age at which a pair's weight halves"
        )
        parser.add_argument(
            "--item-weight", type=float, help="share of item-item neighbours in the blend (0-1)"
        )
        parser.add_argument("--item-weighting", choices=sorted(blend.WEIGHTINGS))
        parser.add_argument("--item-neighbours", type=int, help="neighbours kept per item")
        parser.add_argument(
            "--trend-weight", type=float, help="share of the recent demand in the blend (0-1)"
        )
        parser.add_argument("--trend-days", type=float, help="window of the recent demand")
        parser.add_argument(
            "--tune",
            type=int,
            default=0,
            help="search N ALS parameter sets, then blends, on the last month first",
        )
        parser.add_argument("--force", action="store_true", help="publish even if worse")
        parser.add_argument(
            "--cold", action="store_true",
            help="train from random factors, not from the served model's (a warm start)",
        )  # fmt: skip
        parser.add_argument("--tolerance", type=float, default=0.0, help="allowed nDCG@10 drop")
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--engine", choices=ENGINES, help="local (implicit) or spark; default PICKS_ENGINE"
        )

    def handle(self, *args: object, **options: object) -> None:
        for name in ("factors", "iterations", "item_neighbours"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("regularization", "alpha", "half_life_days", "trend_days"):
            if options[name] is not None and not options[name] > 0:
                raise CommandError(f"--{name.replace('_', '-')} must be above 0")
        for name in ("item_weight", "trend_weight"):
            if options[name] is not None and not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        try:
            params = self._params(options)
        except ValueError as exc:  # the two weights sum above 1
            raise CommandError(str(exc)) from exc
        try:
            run = train_als_model(
                params=params,
                tune=options["tune"],
                force=options["force"],
                tolerance=options["tolerance"],
                test_fraction=options["test_fraction"],
                seed=options["seed"],
                engine=options["engine"],
                warm=not options["cold"],
            )
        except (NoTrainingData, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        m = run.metrics
        self.stdout.write(
            f"model run #{run.pk} {run.params}: nDCG@10 {m['ndcg@10']:.4f} "
            f"(popularity {m['baseline_ndcg@10']:.4f}); {run.decision}"
        )

    @staticmethod
    def _params(options: dict) -> als.AlsParams:
        return replace_params(
            current_als_params(),
            factors=options["factors"],
            iterations=options["iterations"],
            regularization=options["regularization"],
            alpha=options["alpha"],
            half_life_days=options["half_life_days"],
            seed=options["seed"],
            item_weight=options["item_weight"],
            item_weighting=options["item_weighting"],
            item_neighbours=options["item_neighbours"],
            trend_weight=options["trend_weight"],
            trend_days=options["trend_days"],
        )
