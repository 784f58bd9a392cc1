import json
from dataclasses import asdict

from django.core.management.base import CommandError, CommandParser

from recommendations.management.commands._job import JobCommand
from recommendations.models import Experiment
from recommendations.services import experiments


class Command(JobCommand):
    help = "Per variant: users, impressions, like/cart/purchase rates, lift against control."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, name: str, json: bool, **options: object) -> None:
        experiment = Experiment.objects.filter(name=name).first()
        if experiment is None:
            raise CommandError(f"no experiment {name!r}")
        report = experiments.report(experiment)
        if json:
            self.stdout.write(_dumps(asdict(report)))
            return
        self.stdout.write(f"{report.name} on {report.family}: {report.status}")
        for arm in report.arms:
            rates = "  ".join(
                f"{k} {arm.per_user[k]:.2%}/user {arm.per_impression[k]:.3f}/impr."
                for k in experiments.OUTCOMES
            )
            self.stdout.write(
                f"  {arm.name:<12} {'control' if arm.control else arm.lists:<8} "
                f"users {arm.users:>7}  impressions {arm.impressions:>8}  {rates}"
            )
            for kind, c in arm.against_control.items():
                if c.lift is None:
                    continue
                self.stdout.write(
                    f"      {kind:<9} lift {c.lift:+.1%} (95 % {c.lift_low:+.1%} .. "
                    f"{c.lift_high:+.1%})  p {c.p_value:.4f}"
                )
        flag = "MISMATCH: the split is broken" if report.srm_flagged else "ok"
        self.stdout.write(f"  sample ratio: p {report.srm_p_value:.4g} ({flag})")
        self.stdout.write(f"  method: {report.method}")


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2, default=str)
