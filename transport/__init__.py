"""How the suite reaches a dependency, bounded and read-only: HTTP, the Kubernetes API (and its
credentials), AWS, Redis, PostgreSQL, and the first contacts started together (prefetch). Imports only core."""
