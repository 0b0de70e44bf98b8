"""Taking a feature out of a repository: classify, mask, stub, scan for leaks, write the case."""
