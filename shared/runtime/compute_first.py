"""Work a handler must not do inside its transaction, done before the batch is retried.

A handler that finds it needs a long computation (a universe screen: seconds to minutes of
CPU) raises :class:`ComputeFirst` instead of computing while its transaction is open (row
locks held, a pooled connection idle in transaction, the session and liveness budgets
running). The consumer loop rolls the transaction back, awaits ``compute()`` with no
transaction open, reloads the service's and the event-time state (as after any rolled-back
attempt) and runs the batch again; the handler then finds the results. The computation must
be a pure function of what the handler saw, so a batch's output is the same whichever
attempt computed it.
"""

from __future__ import annotations

from abc import abstractmethod


class ComputeFirst(Exception):
    """Raised inside a transaction: roll back, ``await compute()``, run the batch again."""

    @abstractmethod
    async def compute(self) -> None:
        """The computation, awaited with no transaction open (off the event loop if long)."""
