"""``manage.py attachchain``: point a hosted deployment at existing Raiden contracts."""

from django.core.management.base import BaseCommand, CommandError

from raidennode.errors import ServiceError
from raidennode.protocol.addresses import is_checksum_address

from ...services.chain import deployment_attach


class Command(BaseCommand):
    help = (
        "Attach this deployment to a TokenNetworkRegistry (and optionally a UserDeposit contract) "
        "on the chain at ETH_RPC_URL. Ingestion starts at --start-block."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--registry", required=True, help="TokenNetworkRegistry address (EIP-55)")
        parser.add_argument("--user-deposit", help="UserDeposit address (EIP-55); the service contracts follow from it")
        parser.add_argument("--start-block", type=int, required=True, help="the registry's deployment block")

    def handle(self, *args, registry: str, user_deposit: str | None, start_block: int, **options) -> None:
        for label, value in (("--registry", registry), ("--user-deposit", user_deposit)):
            if value is not None and not is_checksum_address(value):
                raise CommandError(f"{label} must be an EIP-55 checksummed address")
        try:
            deployment = deployment_attach(registry, start_block, user_deposit)
        except (ServiceError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"attached to registry {deployment.token_network_registry} on chain {deployment.chain_id}; "
            f"ingestion starts at block {deployment.start_block}"
        )
