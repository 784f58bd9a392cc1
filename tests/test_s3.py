"""Artifacts and item images through django-storages' S3 backend, against a real S3-compatible
server (moto's standalone server on a free 127.0.0.1 port, started here), not a boto3 mock."""

import io
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Item
from recommendations import artifacts, store
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import ModelRun
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import run_pipeline
from recommendations.services.training.mf import HELD_OUT
from tests.conftest import free_port

pytestmark = pytest.mark.django_db
BUCKET = "picks-test"
MOTO = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "moto_server"
PUBLIC_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/items/*",
        }
    ],
}


@pytest.fixture
def s3(settings) -> Iterator[object]:
    """A moto S3 server of this test's own, and the default storage pointed at its bucket."""
    program = str(MOTO) if MOTO.exists() else shutil.which("moto_server")
    if program is None:
        pytest.skip("moto[server] is not installed (make test installs it)")
    port = free_port()
    server = subprocess.Popen(
        [program, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    # Item images are public, artifacts are not (docker-compose: `mc anonymous set download`
    # on the items/ prefix only).
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(PUBLIC_READ))
    on_s3 = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": endpoint,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
            "querystring_auth": False,
            "file_overwrite": False,
        },
    }
    settings.STORAGES = {**settings.STORAGES, "default": on_s3, "artifacts": on_s3}
    try:
        yield client
    finally:
        server.terminate()
        server.wait()


def keys(client) -> set[str]:
    listed = client.list_objects_v2(Bucket=BUCKET)
    return {entry["Key"] for entry in listed.get("Contents", [])}


def test_an_item_image_is_uploaded_to_s3_and_served_by_its_url(s3, service_client):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="PNG")
    upload = SimpleUploadedFile("shoe.png", buffer.getvalue(), content_type="image/png")
    response = service_client.post(
        "/api/items/",
        {"sku": "S3-1", "title": "Shoe", "price": "20.00", "image": upload},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    name = Item.objects.get(sku="S3-1").image.name
    assert name in keys(s3)
    url = response.json()["image_url"]
    assert url.startswith(s3.meta.endpoint_url)
    with urllib.request.urlopen(url) as served:  # the URL the API hands out really serves it
        assert served.read() == buffer.getvalue()


def test_training_saves_loads_lists_and_prunes_artifacts_in_s3(s3, settings):
    settings.PICKS_KEEP_ARTIFACTS = 1
    generate_demo_data(spec=ShopSpec(users=80, items=50, events=3_000, groups=2, orders=400))
    run_pipeline()
    first = {run.kind: run.artifact_name for run in ModelRun.objects.exclude(artifact_name="")}
    assert set(first) == {"als", "mf", "basket"}
    assert set(first.values()) <= keys(s3)
    assert store.live_version(store.TOP_BUYS) is not None  # lists came from loaded artifacts
    loaded = artifacts.load(first["als"])
    assert loaded is not None
    with pytest.raises(urllib.error.HTTPError, match="403"):  # pickles are never public
        urllib.request.urlopen(f"{s3.meta.endpoint_url}/{BUCKET}/{first['als']}")
    assert artifacts.stored("als") == [first["als"]]

    for _ in range(2):
        run_pipeline(force=True)
    for kind in ("als", "mf", "basket"):
        runs = ModelRun.objects.filter(kind=kind).order_by("-pk")
        kept = set(artifacts.stored(kind))
        # the newest run's artifact, plus the two newest published ones (rollback)
        expected = {runs[0].artifact_name} | {
            r.artifact_name for r in runs.filter(published=True)[:2]
        }
        if kind == "mf":  # and, beside each, the held-out fits the next run starts from
            expected |= {artifacts.companion(name, HELD_OUT) for name in expected}
        assert kept == expected
        assert kept <= keys(s3)
        owners = {name for name in kept if ".held-out." not in name}
        assert len(owners) < runs.count()  # older ones were deleted from the bucket
        assert all(storages["artifacts"].exists(name) for name in kept)
    pruned = ModelRun.objects.filter(artifact_name="")
    assert pruned.exists()  # runs whose artifact went no longer name it


def test_the_demo_shops_pictures_go_to_s3_and_their_urls_serve_them(s3):
    generate_demo_data(spec=ShopSpec(users=20, items=16, events=200, groups=2), pictures=True)
    items = list(Item.objects.all())
    assert len(items) == 16
    assert {item.image.name for item in items} <= keys(s3)
    url = items[0].image.url
    assert url.startswith(s3.meta.endpoint_url)
    with urllib.request.urlopen(url) as served:
        picture = Image.open(io.BytesIO(served.read()))
    assert picture.format == "PNG"
    assert picture.size == (240, 300)
