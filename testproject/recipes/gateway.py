"""A stand-in payment gateway: charges are kept in memory, failures can be arranged by tests."""

from __future__ import annotations

from collections import deque


class GatewayError(Exception):
    """The gateway refused or could not be reached; the charge did not happen."""


class AlreadyCharged(GatewayError):
    """The gateway already holds a charge for this payment (a retry after a lost reply)."""


#: payment id -> gateway reference, for every charge made.
CHARGES: dict[int, str] = {}
#: Errors the next charges raise, in order (tests put them here).
FAILURES: deque[GatewayError] = deque()


def charge(payment_id: int, amount_cents: int) -> str:
    """Charge a payment once; return the gateway's reference."""
    if FAILURES:
        raise FAILURES.popleft()
    if payment_id in CHARGES:
        raise AlreadyCharged(f"payment {payment_id} is already charged as {CHARGES[payment_id]}")
    CHARGES[payment_id] = f"ch_{payment_id}_{amount_cents}"
    return CHARGES[payment_id]


def reset() -> None:
    CHARGES.clear()
    FAILURES.clear()
