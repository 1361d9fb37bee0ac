"""Maintenance services that ``runjobs`` runs beside the queues (rescue, prune, periodic)."""
