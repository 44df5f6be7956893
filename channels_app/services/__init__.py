"""Services: every state change of tokens, channels and the chain goes through these functions."""
