import json

from django.core.management.base import CommandError, CommandParser
from django.db import IntegrityError, transaction

from recommendations.management.commands._job import JobCommand
from recommendations.models import Experiment, Variant
from recommendations.services import experiments


def _variant(text: str) -> dict:
    """NAME:SHARE[:LISTS[:PARAMS-JSON]], e.g. control:50 or tuned:50:als:{"factors":64}."""
    parts = text.split(":", 3)
    if len(parts) < 2 or not parts[1].isdigit():
        raise CommandError(f"--variant {text!r}: give NAME:SHARE[:LISTS[:PARAMS-JSON]]")
    lists = parts[2] if len(parts) > 2 else Variant.Lists.DEFAULT
    if lists not in Variant.Lists.values:
        raise CommandError(f"--variant {text!r}: lists must be one of {Variant.Lists.values}")
    try:
        params = json.loads(parts[3]) if len(parts) > 3 else {}
    except json.JSONDecodeError as exc:
        raise CommandError(f"--variant {text!r}: parameters are not JSON: {exc}") from exc
    return {"name": parts[0], "share": int(parts[1]), "lists": lists, "params": params}


class Command(JobCommand):
    help = (
        "A/B experiments: create NAME --family F --variant NAME:SHARE[:LISTS[:PARAMS]] ... "
        "(the first variant is the control); start, stop, promote NAME VARIANT; shares NAME "
        "VARIANT=SHARE ...; list."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action", choices=["create", "start", "stop", "promote", "shares", "list"]
        )
        parser.add_argument("name", nargs="?")
        parser.add_argument("rest", nargs="*", help="promote: the variant; shares: NAME=SHARE")
        parser.add_argument("--family", choices=Experiment.Family.values)
        parser.add_argument("--variant", action="append", type=_variant, default=[])

    def handle(
        self,
        *args: object,
        action: str,
        name: str | None,
        rest: list[str],
        family: str | None,
        variant: list[dict],
        **options: object,
    ) -> None:
        if action == "list":
            for exp in Experiment.objects.prefetch_related("variants"):
                arms = ", ".join(f"{v.name} {v.share}% {v.lists}" for v in exp.variants.all())
                self.stdout.write(f"{exp.name:<24} {exp.family:<16} {exp.status:<8} {arms}")
            return
        if not name:
            raise CommandError(f"{action} needs an experiment name")
        try:
            if action == "create":
                self._create(name, family, variant)
                return
            experiment = Experiment.objects.filter(name=name).first()
            if experiment is None:
                raise CommandError(f"no experiment {name!r}")
            if action == "start":
                experiments.start(experiment)
            elif action == "stop":
                experiments.stop(experiment)
            elif action == "promote":
                if len(rest) != 1:
                    raise CommandError("promote NAME VARIANT")
                self.stdout.write(experiments.promote(experiment, rest[0]))
                return
            elif action == "shares":
                self._shares(experiment, rest)
        except experiments.ExperimentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{name}: {experiment.status}")

    def _create(self, name: str, family: str | None, variants: list[dict]) -> None:
        if family is None or len(variants) < 2:
            raise CommandError("create needs --family and two or more --variant")
        try:
            with transaction.atomic():
                experiment = Experiment.objects.create(name=name, family=family)
                for position, v in enumerate(variants):
                    Variant.objects.create(
                        experiment=experiment, position=position, is_control=position == 0, **v
                    )
                experiments.check(experiment)
        except IntegrityError as exc:
            raise CommandError(f"an experiment {name!r} exists already") from exc
        self.stdout.write(f"{name}: created (draft); `experiment start {name}` serves it")

    def _shares(self, experiment: Experiment, pairs: list[str]) -> None:
        with transaction.atomic():
            for pair in pairs:
                variant, _, share = pair.partition("=")
                if not share.isdigit():
                    raise CommandError(f"{pair!r}: give VARIANT=SHARE")
                if not experiment.variants.filter(name=variant).update(share=int(share)):
                    raise CommandError(f"{experiment.name} has no variant {variant!r}")
            experiments.reshare(experiment)
