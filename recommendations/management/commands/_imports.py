"""The shared shell of the import commands: parse a path, run one importer, print its report."""

from collections.abc import Callable
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.services.imports import ImportFileError, ImportReport


class ImportCommand(JobCommand):
    importer: Callable[..., ImportReport]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, file: Path, **options: object) -> None:
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        try:
            report = type(self).importer(path=file)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        self._write(report)

    def _write(self, report: ImportReport) -> None:
        created = ", ".join(f"{k}={v}" for k, v in report.created.items())
        counts = "".join(f", {k}={v}" for k, v in report.counts.items())
        self.stdout.write(f"rows read: {report.rows}; new: {created}{counts}")
        self.stdout.write(f"bad rows: {report.bad_rows}")
        for line, reason in report.bad_examples:
            self.stdout.write(f"  line {line}: {reason}")
        if report.bad_rows > len(report.bad_examples):
            self.stdout.write(f"  ... and {report.bad_rows - len(report.bad_examples)} more")
        if report.truncated:
            self.stdout.write(f"file problem: {report.truncated}")
