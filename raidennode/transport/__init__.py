"""How signed messages reach a partner: ``local`` between co-hosted nodes; Matrix later.

See base.Transport for the contract every transport keeps.
"""
