"""The Raiden WebUI (PyPI raiden-webui) at /ui, its login page and its read-only web3 proxy."""
