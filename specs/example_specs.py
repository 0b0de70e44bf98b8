"""Example repo specs in seed 000's format: one SPECS_* dict per repository."""

SPECS_CACHETOOLS = {
    # A real library from PyPI: its sdist becomes a one-commit git repository.
    "repository": "pypi:cachetools==5.5.2",
    "install": "pip install -e .",
    "pip_packages": ["pytest"],
    "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
    "min_test_num": 5,
    "max_f2p_num": 5,
    "timeout_run": 300,
    "library_name": "cachetools",
}
