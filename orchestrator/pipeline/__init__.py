"""The engine and what every stage shares: specs, storage, processes, repositories, traces."""
