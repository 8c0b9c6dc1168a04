"""The embedded default target: a local stack that looks like production, and drills."""
