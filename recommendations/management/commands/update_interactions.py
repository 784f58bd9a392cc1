from django.core.management.base import CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.services.aggregation import update_interactions


class Command(JobCommand):
    help = "Fold every event and order line not yet aggregated into user_product_interactions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="rebuild every score from scratch")

    def handle(self, *args: object, full: bool, **options: object) -> None:
        result = update_interactions(full=full)
        self.stdout.write(
            f"{result.rows_touched} user-item scores updated from {result.events} events and "
            f"order lines (batch {result.batch})"
        )
