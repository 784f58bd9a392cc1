from recommendations.management.commands._publishing import PublishCommand
from recommendations.services.precompute.decks import generate_decks


class Command(PublishCommand):
    help = "Publish every swiper's deck: unseen items by like-probability, diversified, explored."
    job = staticmethod(generate_decks)
