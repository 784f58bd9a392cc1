from recommendations.management.commands._publishing import PublishCommand
from recommendations.services.precompute.similar import generate_similar_items


class Command(PublishCommand):
    help = "Publish product:{id}:similar from ALS (or MF) item vectors blended with content."
    job = staticmethod(generate_similar_items)
