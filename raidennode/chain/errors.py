"""Errors of chain calls, classified by what the caller can do about them."""


class ChainError(Exception):
    """Base class of every error raised by raidennode.chain."""


class RpcUnavailable(ChainError):
    """The Ethereum node did not answer (down, timeout, connection refused): transient."""


class TransactionReverted(ChainError):
    """A call, gas estimate or mined transaction reverted. ``reason`` is the revert string."""

    def __init__(self, reason: str, transaction_hash: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transaction_hash = transaction_hash


class InsufficientEth(ChainError):
    """The account cannot pay for gas (and value)."""


class NonceTooLow(ChainError):
    """The nonce was already used on chain."""


class TransactionUnderpriced(ChainError):
    """A replacement with the same nonce needs a higher fee."""


class RpcError(ChainError):
    """Any other JSON-RPC error answer."""
