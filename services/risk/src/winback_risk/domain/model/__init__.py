"""Buy-till-you-die models from the published likelihoods (pure numpy/scipy, no I/O)."""
