"""What every REST resource shares: Raiden's wire format, errors, input fields and node routing."""
