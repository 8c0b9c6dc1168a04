"""The suite's core: the environment config, the error model, secrets and their redaction, and the
parsers the observations share (Kubernetes quantities, IAM policies, JOSE keys). Imports nothing else of the project."""
