"""The migration console at /console/: one live page per operation (modes, agreement, latency,
errors, each difference with samples), for operators holding an operator key."""
