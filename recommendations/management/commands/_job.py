"""The base of every batch command: an unreachable store or database is a clear error."""

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from recommendations import store
from recommendations.services.job_runs import recorded


class JobCommand(BaseCommand):
    """A management command that names the service it could not reach instead of printing a
    stack trace. Lists go live only when a job commits, so a job stopped here published
    nothing: the previous version keeps serving."""

    record_run = True  # as a JobRun (run_pipeline records itself and its steps)

    def execute(self, *args: object, **options: object) -> str | None:
        try:
            with store.job_timeouts():
                if not self.record_run:
                    return super().execute(*args, **options)
                with recorded(self.__module__.rsplit(".", 1)[-1]):
                    return super().execute(*args, **options)
        except (store.PublishLocked, store.LockLost) as exc:
            raise CommandError(f"{exc}. Nothing was switched by this run.") from exc
        except RedisError as exc:
            raise CommandError(
                f"Redis (the recommendation store) is unreachable: {exc}. Nothing was "
                "published; the lists served before this run are unchanged."
            ) from exc
        except (OperationalError, InterfaceError) as exc:
            raise CommandError(f"The database is unreachable: {exc}") from exc
