from django.core.management.base import CommandError, CommandParser

from recommendations.artifacts import ArtifactMissing
from recommendations.management.commands._job import JobCommand
from recommendations.services.pipeline import PipelineLocked, PipelineLockLost, run_pipeline
from recommendations.services.training.model_runs import NoServedModel, NoTrainingData


class Command(JobCommand):
    help = "Run every batch job in order under a lock (cron runs this)."
    record_run = False  # the service records the run and each step

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tune",
            type=int,
            default=0,
            help="random-search trials for ALS and for the swipe model",
        )
        parser.add_argument("--force", action="store_true", help="publish models even if worse")

    def handle(self, *args: object, tune: int, force: bool, **options: object) -> None:
        try:
            steps = run_pipeline(tune=tune, force=force)
        except (
            PipelineLocked,
            PipelineLockLost,
            NoTrainingData,
            NoServedModel,
            ArtifactMissing,
        ) as exc:
            raise CommandError(str(exc)) from exc
        for step in steps:
            self.stdout.write(f"{step.name:<26} {step.seconds:8.2f} s  {step.outcome}")
