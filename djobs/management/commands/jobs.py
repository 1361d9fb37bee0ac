"""``manage.py jobs <subcommand>``: the operator commands, each in djobs/cli/."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djobs.cli import SUBCOMMANDS


class Command(BaseCommand):
    help = "Inspect and manage djobs jobs and schedules."

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", required=True)
        for name, module_path in SUBCOMMANDS.items():
            module = import_module(module_path)
            sub = subparsers.add_parser(name, help=module.__doc__)
            module.add_arguments(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["subcommand"]
        module = import_module(SUBCOMMANDS[name])
        try:
            module.handle(self, **options)
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc)) from exc
