"""The signing-key types the sandbox can run with; its own module so that the pytest plugin (also in
the container image, which holds no sandbox) names them without importing the sandbox."""

__all__ = ["KEY_TYPES"]

#: The signing key types the sandbox can run with (``--sandbox-key-type``): RS256, ES256, EdDSA.
KEY_TYPES = ("rsa", "ec", "ed25519")
