"""Production settings: `check --deploy` is clean, secrets come only from the environment."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_production_settings():
    done = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="picks.example",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_production_refuses_to_start_without_a_secret_key():
    done = manage("check", ALLOWED_HOSTS="picks.example")
    assert done.returncode != 0
    assert "Set the SECRET_KEY environment variable" in done.stderr


def test_debug_is_off_in_production_even_if_the_environment_asks():
    done = manage(
        "shell", "-c", "from django.conf import settings; print(settings.DEBUG)",
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="picks.example", DEBUG="true",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_no_secret_or_default_password_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:  # not a git checkout: nothing to scan
        return
    patterns = [
        re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key ids
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        re.compile(r"(?i)(password|secret_key)\s*[:=]\s*['\"][^'\"$<{]{6,}['\"]"),
    ]
    allowed = re.compile(r"insecure-key-for-the-(test-suite|local-demo)-only|correct-horse")
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".yml", ".yaml", ".toml", ".env", ".cfg", ".ini", ".sh"}:
            continue
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if any(p.search(line) for p in patterns) and not allowed.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, found
