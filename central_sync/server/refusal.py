"""What the centre's API refuses: one exception with the HTTP status it is answered with.

A batch for another hall (:mod:`.ingest`), a household that is not proven
(:mod:`.residents`), an order whose lines cannot be paid (:mod:`.payments.orders`): each
is a :class:`Refused`, raised where the rule is, and answered as a problem document by the
API blueprints' error handler (:func:`central_sync.server.api.refused`); nothing of the
request is applied.
"""

from __future__ import annotations

from hall_common.errors import HallError


class Refused(HallError, ValueError):
    """A request refused whole: ``code`` is for programs, ``status`` the HTTP status it is
    answered with, ``detail`` for people (the hall's log)."""

    def __init__(self, code: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.code, self.status, self.detail = code, status, detail
