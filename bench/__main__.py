"""`python -m bench` lists the benchmarks."""

print("python -m bench.soak   many concurrent clients: errors, lockouts, worker memory")
