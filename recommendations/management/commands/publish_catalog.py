from django.core.management.base import BaseCommand

from recommendations.services.publish import publish_catalog


class Command(BaseCommand):
    help = "Write item cards into Redis so lists are served without the database."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(f"{publish_catalog()} item cards published")
