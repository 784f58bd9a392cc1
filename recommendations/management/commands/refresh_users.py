import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations.services.freshness import run_refresher

_STOPPING = (signal.SIGTERM, signal.SIGINT)  # finish the pass in hand, then exit


class Command(BaseCommand):
    help = (
        "Run the refresher: rewrite the top buys, deck and MF vector of every user who acted, "
        "within a second of the event, until stopped (SIGTERM or Ctrl-C)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="refresh every queued user, then exit"
        )
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=None,
            help="longest wait for a notice before the queue is read anyway",
        )
        parser.add_argument("--batch", type=int, default=None, help="users claimed per pass")

    def handle(
        self, *args: object, once: bool, poll_seconds: float | None, batch: int | None, **_: object
    ) -> None:
        if poll_seconds is not None and not 0 < poll_seconds <= 3600:
            raise CommandError("--poll-seconds must be in (0, 3600]")
        if batch is not None and not 0 < batch <= 10_000:
            raise CommandError("--batch must be in [1, 10000]")
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOPPING}
        try:
            done = run_refresher(poll_seconds=poll_seconds, batch=batch, once=once, stop=stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"{done} users refreshed")
