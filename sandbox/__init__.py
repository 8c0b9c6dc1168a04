"""The embedded default target: a local stack that looks like production, and drills."""

#: The variable the sandbox's environment file names for its Redis password, and the 0600 file in
#: its state dir that holds it. Here, not in sandbox.stack: the pytest plugin (also in the container
#: image, which holds no sandbox) reads them.
REDIS_PASSWORD_VAR = "SANDBOX_REDIS_PASSWORD"
REDIS_PASSWORD_FILE = "redis-password"
