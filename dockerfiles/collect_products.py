"""Keep what the install wrote into /testbed, for the Docker backend to hand back.

Runs in the instance image after the spec's install commands. At run time the host's
work tree is mounted over /testbed and hides what the install left there (extensions
built in place, generated version files): every file that the copied work tree did not
have (``testbed.files`` lists those) is copied to /opt/featurebench/products, which
orchestrator/environments/docker.py copies into the host's work tree before the runs.
"""

import os
import shutil

TESTBED = "/testbed"
HERE = "/opt/featurebench"
PRODUCTS = os.path.join(HERE, "products")

with open(os.path.join(HERE, "testbed.files")) as listing:
    known = set(listing.read().splitlines())
os.makedirs(PRODUCTS, exist_ok=True)
for root, dirs, files in os.walk(TESTBED):
    dirs[:] = [d for d in dirs if d not in (".git", "__pycache__")]
    for name in files:
        source = os.path.join(root, name)
        relative = os.path.relpath(source, TESTBED)
        if relative not in known:
            target = os.path.join(PRODUCTS, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
