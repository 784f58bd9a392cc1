"""The shared shell of the list-publishing commands."""

from collections.abc import Callable

from django.core.management.base import CommandError, CommandParser

from recommendations.artifacts import ArtifactMissing
from recommendations.management.commands._job import JobCommand
from recommendations.services.engines import ENGINES
from recommendations.services.precompute import PublishResult
from recommendations.services.training.model_runs import NoServedModel, NoTrainingData


class PublishCommand(JobCommand):
    job: Callable[..., PublishResult]
    has_engine = False  # the job can run on Spark (--engine)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--n", type=int, default=None, help="entries per list")
        if self.has_engine:
            parser.add_argument(
                "--engine",
                choices=ENGINES,
                help="local, or spark (the executors write the lists); default PICKS_ENGINE",
            )

    def handle(self, *args: object, n: int | None, **options: object) -> None:
        if n is not None and n < 1:
            raise CommandError("--n must be at least 1")
        engine = {"engine": options["engine"]} if self.has_engine else {}
        try:
            result = type(self).job(n=n, **engine)
        except (NoServedModel, NoTrainingData, ArtifactMissing, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"published {result.lists} lists as version {result.version}")
