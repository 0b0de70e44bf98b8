"""``fbench sandbox``: job lists in seed 003's four steps, each job a hook by ``type``.

The package is named ``jobs`` rather than ``sandbox`` because
``orchestrator/environments/sandbox.py`` is already the process sandbox that
confines untrusted code; the command keeps the seed's name. Modules:
``config`` reads and checks a job list, ``run`` runs it and records each job's
``context_infos`` entry as it ends, ``hooks``/``refine``/``evaluate`` are the
built-in hooks (``featurebench.hooks`` entry points).
"""
