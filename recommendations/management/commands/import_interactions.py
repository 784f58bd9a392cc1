from recommendations.management.commands._imports import ImportCommand
from recommendations.services.imports import import_interactions


class Command(ImportCommand):
    help = "Import events from a CSV with header user,item,event,timestamp[,value][,event_id]."
    importer = staticmethod(import_interactions)
