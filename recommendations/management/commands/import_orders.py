from recommendations.management.commands._imports import ImportCommand
from recommendations.services.imports import import_orders


class Command(ImportCommand):
    help = "Import orders from a CSV in the UCI Online Retail layout (plain or gzip)."
    importer = staticmethod(import_orders)
