"""Root pytest configuration: loaded before Django settings are read."""

import os

# Unit tests use the in-memory channel layer; end-to-end servers get Redis explicitly.
os.environ.setdefault("CHANNELS_IN_MEMORY", "1")
