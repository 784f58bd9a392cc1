from recommendations.management.commands._publishing import PublishCommand
from recommendations.services.lists import generate_bought_together


class Command(PublishCommand):
    help = "Publish product:{id}:bought_together from the mined rules, by lift."
    job = staticmethod(generate_bought_together)
