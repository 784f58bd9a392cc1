import json

from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.services.engines import ENGINES
from recommendations.services.evaluation import SPLITS, evaluate_models
from recommendations.services.training.model_runs import NoTrainingData


class Command(JobCommand):
    help = (
        "Train each model (the top-buys families and their blend, MF on swipes, MF on "
        "ratings) on one part of the data and score it, beside its baseline, on the rest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--split", choices=SPLITS, default="temporal")
        parser.add_argument("--test-fraction", type=float, default=0.25)
        parser.add_argument("--days", type=float, help="temporal: hold out the last N days")
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--tune",
            type=int,
            default=0,
            help="tune the top-buys model first on the training part alone (N ALS trials)",
        )
        parser.add_argument(
            "--engine", choices=ENGINES, help="ALS on local (implicit) or spark; default setting"
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args: object, **options: object) -> None:
        try:
            results = evaluate_models(
                split=options["split"],
                test_fraction=options["test_fraction"],
                k=options["k"],
                seed=options["seed"],
                days=options["days"],
                tune=options["tune"],
                engine=options["engine"],
            )
        except (NoTrainingData, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
            return
        for model, values in results.items():
            self.stdout.write(
                f"{model:<12}"
                + "  ".join(
                    f"{m} {v:.4f}" if isinstance(v, float) else f"{m} {v}"
                    for m, v in values.items()
                )
            )
