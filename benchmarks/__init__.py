"""stackdeck's benchmarks: every figure measured against a baseline taken in the same run."""
