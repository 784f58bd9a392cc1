from recommendations.management.commands._publishing import PublishCommand
from recommendations.services.precompute.global_lists import generate_global_top_buys


class Command(PublishCommand):
    help = "Publish global:top_buys and global:trending for guests and cold start."
    job = staticmethod(generate_global_top_buys)
