"""Faults: Redis and PostgreSQL going away, a job killed mid-publish, two pipelines at once.

Redis faults use a second redis-server that these tests start and stop on a free port (the
shared one is never touched); PostgreSQL faults point Django's connection at a closed port.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from redis import Redis

from accounts.models import User
from recommendations import store
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import Interaction
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import LOCK, run_pipeline
from tests.conftest import client_for, free_port
from tests.factories import ItemFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
SPEC = ShopSpec(users=120, items=90, events=5_000, groups=3, orders=800, seed=7)
LISTS = "/api/recommendations"


class RedisServer:
    """A redis-server of the test's own that keeps its data across a stop and a start."""

    def __init__(self, directory: Path) -> None:
        self.port, self.directory, self.process = free_port(), directory, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis(port=self.port, socket_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                return
            except OSError:
                time.sleep(0.05)
            except Exception:  # loading the dump: not ready yet
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Shut down, writing the data to disk as a production Redis with persistence would."""
        Redis(port=self.port).shutdown(save=True)
        self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def second_redis(tmp_path, settings) -> Iterator[RedisServer]:
    if not _has("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    yield server
    server.kill()


def _has(program: str) -> bool:
    return any(Path(d, program).exists() for d in os.environ.get("PATH", "").split(os.pathsep))


def _ids(body: dict) -> list[int]:
    return [r["item"]["id"] for r in body["results"]]


@pytest.mark.django_db
def test_redis_down_reads_503_fast_events_kept_jobs_refused_then_back_to_normal(
    second_redis, api, django_capture_on_commit_callbacks
):
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    shopper = client_for(UserFactory())
    served = api.get(f"{LISTS}/trending/").json()
    live = {family: store.live_version(family) for family in store.FAMILIES}

    second_redis.stop()
    for path in ("/trending/", "/top-buys/", f"/similar/{demo.item_ids[0]}/"):
        started = time.perf_counter()
        response = api.get(LISTS + path)
        assert time.perf_counter() - started < 1.0
        assert response.status_code == 503
        assert response.json()["code"] == "store_unavailable"
    events = Interaction.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = shopper.post(
            "/api/interactions/", {"item": int(demo.item_ids[3]), "kind": "like"}, format="json"
        )
    assert response.status_code == 201
    assert Interaction.objects.count() == events + 1
    for job in ("run_pipeline", "generate_top_buys", "publish_catalog"):
        with pytest.raises(CommandError, match=r"Redis .* unreachable.*Nothing was published"):
            call_command(job)

    second_redis.start()
    assert {family: store.live_version(family) for family in store.FAMILIES} == live
    assert _ids(api.get(f"{LISTS}/trending/").json()) == _ids(served)
    run_pipeline()
    assert store.live_version(store.TOP_BUYS) > live[store.TOP_BUYS]
    assert api.get(f"{LISTS}/trending/").status_code == 200


@pytest.mark.django_db
def test_a_hung_redis_is_a_503_within_a_second(second_redis, api):
    store.write_cards([{"id": 1, "title": "x"}])
    os.kill(second_redis.process.pid, signal.SIGSTOP)
    try:
        started = time.perf_counter()
        response = api.get(f"{LISTS}/trending/")
        elapsed = time.perf_counter() - started
    finally:
        os.kill(second_redis.process.pid, signal.SIGCONT)
    assert response.status_code == 503
    assert elapsed < 1.0


@pytest.mark.django_db
def test_a_batch_job_waits_out_a_stalled_redis_that_a_request_gives_up_on(second_redis, api):
    """A job's Redis calls wait REDIS_JOB_TIMEOUT_SECONDS, a request's half a second: at 1M
    lists a Redis freeing an old version stalls for seconds, and the job must not fail."""
    generate_demo_data(spec=SPEC)
    os.kill(second_redis.process.pid, signal.SIGSTOP)
    resume = threading.Timer(2.0, os.kill, (second_redis.process.pid, signal.SIGCONT))
    resume.start()
    try:
        started = time.perf_counter()
        assert api.get(f"{LISTS}/trending/").status_code == 503
        call_command("publish_catalog")
        elapsed = time.perf_counter() - started
    finally:
        resume.join()
    assert elapsed > 1.5  # it did meet the stall, and waited
    assert store.card_ids()  # and published


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Point the default connection at a port where no PostgreSQL listens."""
    conn = connections["default"]
    saved = conn.settings_dict["PORT"]
    conn.close()
    conn.settings_dict["PORT"] = free_port()
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["PORT"] = saved


@pytest.mark.django_db(transaction=True)
def test_postgres_down_lists_still_serve_and_writes_answer_503(api):
    item, shopper = ItemFactory(), UserFactory()
    store.write_cards([{"id": item.id, "title": item.title, "price": "1.00"}])
    with store.publishing(store.GLOBAL) as publication:
        publication.put(store.GLOBAL_TRENDING, [item.id], [1.0])
        publication.put(store.GLOBAL_TOP_BUYS, [item.id], [1.0])
        publication.commit()
    client = client_for(shopper)

    with database_unreachable():
        assert _ids(api.get(f"{LISTS}/trending/").json()) == [item.id]
        assert _ids(client.get(f"{LISTS}/top-buys/").json()) == [item.id]
        assert client.get(f"{LISTS}/deck/").status_code == 200
        for response in (
            client.post("/api/interactions/", {"item": item.id, "kind": "like"}, format="json"),
            api.post("/api/auth/register/", {"username": "ada", "password": "correct-horse-1"}),
            api.get("/api/items/"),
        ):
            assert response.status_code == 503
            assert response.json()["code"] == "database_unavailable"
        health = api.get("/api/health/")
        assert health.status_code == 503
        assert health.json()["database"].startswith("error")

    response = client.post("/api/interactions/", {"item": item.id, "kind": "like"}, format="json")
    assert response.status_code == 201


def _child_env() -> dict[str, str]:
    """Environment of a child process on this test's database and Redis prefix."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PICKS_REDIS_PREFIX": settings.PICKS_REDIS_PREFIX,
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "LOG_LEVEL": "WARNING",
    }


def _django_process(code: str) -> subprocess.Popen:
    """A Python child with Django set up on this test's Redis prefix and database."""
    setup = "import django; django.setup()\n"
    return subprocess.Popen(
        [sys.executable, "-c", setup + code],
        cwd=ROOT,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


HOLD_LOCK_AND_PUBLISH_HALF = """
import time
from recommendations import store
from recommendations.services.pipeline import pipeline_lock
with pipeline_lock(ttl_seconds=2):
    publication = store.Publication(store.TOP_BUYS, lock_seconds=2)
    for user in range(1, 3001):
        publication.put(user, [1, 2, 3], [0.3, 0.2, 0.1])
    publication.flush()
    print(publication.version, flush=True)
    time.sleep(600)
"""


def _keys_of_version(version: int) -> int:
    return sum(1 for _ in store.client().scan_iter(match=f"{store.keys.key(f'v{version}')}:*"))


@pytest.mark.django_db
def test_a_job_killed_mid_publish_leaves_the_old_lists_and_an_expiring_lock(api):
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    client = client_for(User.objects.get(pk=int(demo.user_ids[0])))
    before = client.get(f"{LISTS}/top-buys/").json()
    live = store.live_version(store.TOP_BUYS)

    job = _django_process(HOLD_LOCK_AND_PUBLISH_HALF)
    half = int(job.stdout.readline())
    assert _keys_of_version(half) >= 3000  # half a version is written ...
    job.send_signal(signal.SIGKILL)
    job.wait()

    assert store.live_version(store.TOP_BUYS) == live  # ... and never served
    assert client.get(f"{LISTS}/top-buys/").json() == before
    lock = store.keys.key("lock", LOCK)
    assert store.client().exists(lock)
    deadline = time.time() + 5
    while store.client().exists(lock) and time.time() < deadline:
        time.sleep(0.1)
    assert not store.client().exists(lock)  # the dead holder's lock expired by itself

    run_pipeline()
    assert store.live_version(store.TOP_BUYS) not in {live, half}
    assert _keys_of_version(half) == 0  # the next publish removed the orphan


@pytest.mark.django_db
def test_run_pipeline_exits_non_zero_at_once_while_another_holds_the_lock():
    holder = _django_process(HOLD_LOCK_AND_PUBLISH_HALF)
    try:
        holder.stdout.readline()
        second = subprocess.run(
            [sys.executable, "manage.py", "run_pipeline"],
            cwd=ROOT,
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode != 0
    assert "another run_pipeline is running" in second.stderr


@pytest.mark.django_db(transaction=True)
def test_two_pipelines_started_together_one_runs_the_other_is_refused():
    generate_demo_data(spec=SPEC)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        start.wait()
        try:
            call_command("run_pipeline")
            outcomes.append("ran")
        except CommandError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [
        "another run_pipeline is running (its lock has not expired)",
        "ran",
    ]
