"""Errors a service raises for its caller, with the HTTP status the API answers them with.

Services raise these; the API layer turns them into ``{"errors": message}`` with ``status``.
"""


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    status = 400


class InsufficientFunds(ServiceError):
    """Not enough tokens or ETH: 402."""

    status = 402


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class RequestTimeout(ServiceError):
    """A transaction or its confirmation did not arrive in time: 408 (it may still land)."""

    status = 408


class Conflict(ServiceError):
    status = 409


class NotImplementedInProduction(ServiceError):
    status = 501


class NotSupported(ServiceError):
    """A feature this node does not offer (yet): 501."""

    status = 501


class ServiceUnavailable(ServiceError):
    """The Ethereum node is unreachable, or the node is not ready: 503."""

    status = 503


class InternalError(ServiceError):
    """A bug: the API answers Raiden's 500 body (and keeps serving)."""

    status = 500


class TooManyRequests(ServiceError):
    """A per-node limit (requests per minute, largest payment): 429."""

    status = 429

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
