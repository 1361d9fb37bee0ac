"""Async views that enqueue jobs, for the AsyncClient tests (their own URLconf)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from djobs.batches import batch

from . import async_jobs


async def enqueue_add(request: HttpRequest) -> JsonResponse:
    job = await async_jobs.add.aenqueue(int(request.GET["a"]), int(request.GET["b"]))
    return JsonResponse({"job": job.id, "state": job.state})


async def enqueue_batch(request: HttpRequest) -> JsonResponse:
    async with batch(on_complete=async_jobs.report, description="from a view") as b:
        jobs = await async_jobs.add.aenqueue_many([(i, i) for i in range(3)])
    return JsonResponse({"batch": b.key, "jobs": [job.id for job in jobs]})


urlpatterns = [
    path("enqueue/", enqueue_add),
    path("batch/", enqueue_batch),
]
