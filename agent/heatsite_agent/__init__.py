"""Heatsite node agent: reports TPM identity, activates credentials, answers quote requests.

Dependencies: tpm2-pytss and the standard library (``cryptography``, a dependency of tpm2-pytss,
is used only to create the agent's self-signed TLS certificate).
"""

__version__ = "0.1.0"
