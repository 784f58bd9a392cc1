import dataclasses

from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.ml.mf import MfParams
from recommendations.services.training.mf import current_mf_params, train_mf_model
from recommendations.services.training.model_runs import NoTrainingData

# option -> MfParams field; unset options keep the latest tuning's winner (else the defaults)
OPTIONS = {
    "factors": "factors",
    "epochs": "epochs",
    "learning_rate": "learning_rate",
    "regularization": "regularization",
    "negatives": "negatives_per_positive",
    "negative_weight": "negative_weight",
    "dropout": "dropout",
    "batch_norm": "batch_norm",
    "device": "device",
    "seed": "seed",
}


class Command(JobCommand):
    help = "Train the PyTorch MF model on likes and dislikes (or ratings); publish if not worse."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--factors", type=int, help="0: the user + item bias model")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--learning-rate", type=float)
        parser.add_argument("--regularization", type=float, help="L2 on each batch's rows")
        parser.add_argument("--negatives", type=float, help="sampled unseen items per like")
        parser.add_argument("--negative-weight", type=float, help="a sampled item's loss weight")
        parser.add_argument("--dropout", type=float)
        parser.add_argument("--batch-norm", action="store_true", default=None)
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--seed", type=int)
        parser.add_argument("--tune", type=int, default=0, help="random-search trials first")
        parser.add_argument("--ratings", action="store_true", help="MSE on events with a value")
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--tolerance", type=float, default=0.0)

    def handle(self, *args: object, **o: object) -> None:
        checks = (
            ("factors", lambda v: v >= 0, "--factors must be >= 0"),
            ("epochs", lambda v: v >= 1, "--epochs must be >= 1"),
            ("learning_rate", lambda v: v > 0, "--learning-rate must be > 0"),
            ("regularization", lambda v: v >= 0, "--regularization must be >= 0"),
            ("negatives", lambda v: v >= 0, "--negatives must be >= 0"),
            ("negative_weight", lambda v: v >= 0, "--negative-weight must be >= 0"),
            ("dropout", lambda v: 0 <= v < 1, "--dropout must be in [0, 1)"),
            ("tune", lambda v: v >= 0, "--tune must be >= 0"),
        )
        for name, ok, message in checks:
            if o[name] is not None and not ok(o[name]):
                raise CommandError(message)
        base = MfParams() if o["ratings"] else current_mf_params()
        changes = {field: o[option] for option, field in OPTIONS.items() if o[option] is not None}
        try:
            run = train_mf_model(
                params=dataclasses.replace(base, **changes),
                tune=o["tune"],
                ratings=o["ratings"],
                force=o["force"],
                tolerance=o["tolerance"],
            )
        except (NoTrainingData, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in run.metrics.items() if isinstance(v, float))
        self.stdout.write(f"model run #{run.pk}: {metrics}; {run.decision}")
