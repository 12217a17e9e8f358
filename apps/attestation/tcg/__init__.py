"""Pure-Python TCG/TPM library: event logs, Authenticode image hashes, TPM2 quote verification.

No Django imports here: the node agent and benchmarks import this package on its own.
"""
