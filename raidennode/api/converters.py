"""URL converters. Addresses match any path segment; the view checks them (404 with Raiden's
message) before method dispatch, as Raiden's HexAddressConverter does."""


class AddressSegmentConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
