"""Subcommands of ``manage.py jobs``: one module per subcommand, each with ``add_arguments``
and ``handle``. Add a subcommand by adding its module to SUBCOMMANDS."""

SUBCOMMANDS: dict[str, str] = {
    "schedules": "djobs.cli.schedules",
    "status": "djobs.cli.status",
    "progress": "djobs.cli.progress",
    "retry": "djobs.cli.retry",
    "cancel": "djobs.cli.cancel",
    "delete": "djobs.cli.delete",
    "run-now": "djobs.cli.run_now",
    "health": "djobs.cli.health",
    "pause": "djobs.cli.queue_pause",
    "resume": "djobs.cli.queue_resume",
    "scale": "djobs.cli.queue_scale",
    "queues": "djobs.cli.queue_list",
}
