"""One exception root for the shared package; each error also subclasses a builtin.

Callers that only know Python's builtins (``except ValueError``) still catch ours, and
callers that want every hall error catch :class:`HallError`.
"""


class HallError(Exception):
    """Base class for errors raised by hall_common."""


class ConfigError(HallError, ValueError):
    """A configuration file or environment override is invalid.

    The message names the file and the dotted key, so a technician can fix it
    without reading a traceback.
    """


class PayloadError(HallError, ValueError):
    """A bus payload does not match its schema; the message is dropped and logged."""


class TopicError(HallError, ValueError):
    """A topic does not belong to the bus contract, or a part is not a valid topic level."""


class BusTimeout(HallError, TimeoutError):
    """A bus request got no response in time (the responder is offline or busy)."""


class RequestFailed(HallError, RuntimeError):
    """A bus request was answered with an error.

    ``code`` is machine-readable (``bad_request``, ``internal``, or the handler's own, such
    as ``closed``); the message is for logs, not for residents. A request for a method that
    nobody serves gets no answer: the caller sees :class:`BusTimeout`.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message = code, message


class Refusal(HallError, ValueError):
    """What a person typed into a form cannot be taken, and nothing was written: ``zh`` and
    ``en`` say why (the staff console shows both), ``field`` names the form field to fix.
    Each feature subclasses it under its own root (the first-aid boxes, the registers)."""

    def __init__(self, zh: str, en: str, field: str = "") -> None:
        super().__init__(f"{zh} · {en}")
        self.zh, self.en, self.field = zh, en, field
