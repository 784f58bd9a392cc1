from recommendations.management.commands._publishing import PublishCommand
from recommendations.services.precompute.bought_together import generate_bought_together


class Command(PublishCommand):
    help = "Publish product:{id}:bought_together from the mined rules, by lift."
    has_engine = True
    job = staticmethod(generate_bought_together)
