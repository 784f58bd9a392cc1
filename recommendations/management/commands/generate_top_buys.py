from recommendations.management.commands._publishing import PublishCommand
from recommendations.services.precompute.top_buys import generate_top_buys


class Command(PublishCommand):
    help = "Publish every user's top buys from the served ALS model."
    has_engine = True
    job = staticmethod(generate_top_buys)
