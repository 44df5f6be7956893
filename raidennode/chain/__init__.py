"""Everything that talks to the Ethereum node. The only package that imports web3."""
