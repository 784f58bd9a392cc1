"""Jobs that precompute lists into Redis, one per file; what a publish reports."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishResult:
    version: int
    lists: int
