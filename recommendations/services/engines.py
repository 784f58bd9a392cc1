"""Which engine a model job runs on: this machine (implicit, mlxtend) or Apache Spark (MLlib,
`ml/spark.py`), and the Parquet a Spark run reads its input from."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.files.storage import storages

from recommendations import artifacts

ENGINES = ("local", "spark")


def chosen(engine: str | None) -> str:
    """`engine`, or the PICKS_ENGINE setting when None; ValueError for an unknown one."""
    engine = engine or settings.PICKS_ENGINE
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


def spark() -> object:
    """This process's Spark session on SPARK_MASTER (local[*] by default, a cluster's URL in
    production), made on first use."""
    from recommendations.ml import spark as ml_spark

    return ml_spark.session(settings.SPARK_MASTER, driver_memory=settings.SPARK_DRIVER_MEMORY)


def redis_url() -> str:
    """Where Spark's executors write lists: SPARK_REDIS_URL (an address they can reach),
    else the Redis this process publishes to."""
    return settings.SPARK_REDIS_URL or settings.CACHES["default"]["LOCATION"]


@contextmanager
def staged(kind: str, data: bytes) -> Iterator[str]:
    """`data` (Parquet) stored for one run through the artifacts storage, deleted after it;
    yields the address Spark reads it from: the file's path on the local folder, an s3a://
    URL on S3 (the cluster then needs hadoop-aws and the bucket's credentials)."""
    name = artifacts.save_bytes(kind=f"spark-{kind}", data=data, suffix="parquet")
    try:
        yield spark_address(name)
    finally:
        artifacts.delete(name)


def spark_address(name: str) -> str:
    storage = storages["artifacts"]
    try:
        return storage.path(name)
    except NotImplementedError:  # a remote storage (S3)
        location = getattr(storage, "location", "").strip("/")
        key = f"{location}/{name}" if location else name
        return f"s3a://{settings.AWS_STORAGE_BUCKET_NAME}/{key}"
