"""Job list filters whose choices come from configuration, never from a scan of the job table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.db.models.fields.json import KT
from django.db.models.lookups import Exact
from django.http import HttpRequest

from .. import registry
from ..conf import get_settings
from ..exceptions import UnknownJobError
from .display import dotted_breaks


def known_queues() -> list[str]:
    """Return the configured queues and those named by registered jobs, sorted."""
    queues = set(get_settings().QUEUES) | {get_settings().DEFAULT_QUEUE}
    for path in registry.registered_paths():
        try:
            queue = registry.lookup(path).options.queue
        except UnknownJobError:  # unregistered meanwhile
            continue
        if queue:
            queues.add(queue)
    return sorted(queues)


class _ChoiceFilter(admin.SimpleListFilter):
    """A filter on one column; the value in the URL is always offered, even if unknown."""

    field: str = ""

    def choices_from_config(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        values = self.choices_from_config()
        current = self.value()
        if current and current not in values:
            values.append(current)
        return [(value, value) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class QueueFilter(_ChoiceFilter):
    title = "queue"
    parameter_name = "queue"
    field = "queue"

    def choices_from_config(self) -> list[str]:
        return known_queues()


class PathFilter(_ChoiceFilter):
    title = "job"
    parameter_name = "path"
    field = "path"

    def choices_from_config(self) -> list[str]:
        return registry.registered_paths()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        # Long dotted paths wrap after a dot, never in the middle of a name.
        return [(value, dotted_breaks(value)) for value, _ in super().lookups(request, model_admin)]


def batch_is(batch_id: str) -> Exact:
    """Return the condition ``meta->>'batch_id' = batch_id``, the expression the batch index is on."""
    # An Exact on KT compares text on both databases; ``meta__batch_id=`` would
    # compare JSON on PostgreSQL and miss the index.
    return Exact(KT("meta__batch_id"), str(batch_id))


class BatchFilter(admin.SimpleListFilter):
    """Jobs of one batch (the most recent batches are offered; any id works in the URL)."""

    title = "batch"
    parameter_name = "batch"
    recent = 10

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from ..models import Batch

        choices = [
            (str(pk), str(b)) for b in Batch.objects.order_by("-created_at")[: self.recent] for pk in [b.pk]
        ]
        current = self.value()
        if current and current not in {pk for pk, _ in choices}:
            choices.append((current, current))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(batch_is(value))
