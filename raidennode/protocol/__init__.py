"""The pure core of the Raiden protocol: encodings, signatures and rules.

Nothing in this package imports Django or web3, touches the network or reads a clock: time
enters as block numbers. See ../shared/spec/raiden_protocol.md.
"""
