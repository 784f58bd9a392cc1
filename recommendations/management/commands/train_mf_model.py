from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.ml.mf import MfParams
from recommendations.services.training.mf import train_mf_model
from recommendations.services.training.model_runs import NoTrainingData


class Command(JobCommand):
    help = "Train the PyTorch MF model on likes and dislikes (or ratings); publish if not worse."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = MfParams()
        parser.add_argument("--factors", type=int, default=defaults.factors)
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
        parser.add_argument("--negatives", type=float, default=defaults.negatives_per_positive)
        parser.add_argument("--dropout", type=float, default=defaults.dropout)
        parser.add_argument("--batch-norm", action="store_true")
        parser.add_argument("--device", default=defaults.device, choices=["auto", "cpu", "cuda"])
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--ratings", action="store_true", help="MSE on events with a value")
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--tolerance", type=float, default=0.0)

    def handle(self, *args: object, **o: object) -> None:
        if o["factors"] < 1 or o["epochs"] < 1 or o["learning_rate"] <= 0 or o["negatives"] < 0:
            raise CommandError("--factors and --epochs must be >= 1, --learning-rate > 0")
        if not 0 <= o["dropout"] < 1:
            raise CommandError("--dropout must be in [0, 1)")
        params = MfParams(
            factors=o["factors"],
            epochs=o["epochs"],
            learning_rate=o["learning_rate"],
            negatives_per_positive=o["negatives"],
            dropout=o["dropout"],
            batch_norm=o["batch_norm"],
            device=o["device"],
            seed=o["seed"],
        )
        try:
            run = train_mf_model(
                params=params, ratings=o["ratings"], force=o["force"], tolerance=o["tolerance"]
            )
        except NoTrainingData as exc:
            raise CommandError(str(exc)) from exc
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in run.metrics.items() if isinstance(v, float))
        self.stdout.write(f"model run #{run.pk}: {metrics}; {run.decision}")
