"""The shared shell of the list-publishing commands."""

from collections.abc import Callable

from django.core.management.base import CommandError, CommandParser

from recommendations.artifacts import ArtifactMissing
from recommendations.management.commands._job import JobCommand
from recommendations.services.precompute import PublishResult
from recommendations.services.training.model_runs import NoServedModel, NoTrainingData


class PublishCommand(JobCommand):
    job: Callable[..., PublishResult]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--n", type=int, default=None, help="entries per list")

    def handle(self, *args: object, n: int | None, **options: object) -> None:
        if n is not None and n < 1:
            raise CommandError("--n must be at least 1")
        try:
            result = type(self).job(n=n)
        except (NoServedModel, NoTrainingData, ArtifactMissing, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"published {result.lists} lists as version {result.version}")
