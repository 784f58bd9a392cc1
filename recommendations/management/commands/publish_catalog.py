from recommendations.management.commands._job import JobCommand
from recommendations.services.publish import publish_catalog


class Command(JobCommand):
    help = "Write item cards into Redis so lists are served without the database."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(f"{publish_catalog()} item cards published")
