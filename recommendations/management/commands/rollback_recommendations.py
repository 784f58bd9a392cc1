from django.core.management.base import CommandParser

from recommendations import store
from recommendations.management.commands._job import JobCommand
from recommendations.services.pipeline import rollback_recommendations


class Command(JobCommand):
    help = "Serve the previously published version of the lists again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--family", choices=store.FAMILIES, action="append")

    def handle(self, *args: object, family: list[str] | None, **options: object) -> None:
        families = tuple(family) if family else store.FAMILIES
        for name, outcome in rollback_recommendations(families=families).items():
            self.stdout.write(f"{name}: {outcome}")
