"""Seed recipes whose tests are written with djobs.testing: invoices, payments, a backfill."""
