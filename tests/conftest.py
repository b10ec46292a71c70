"""Repository-root pytest configuration: make ``ansible_collections.mailops.exchange`` importable.

The repository *is* the collection; ``.collections/ansible_collections/mailops/exchange`` links back to the
repository root (the Makefile creates it; this file creates it too when missing, e.g. in a fresh clone).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "mailops", "exchange")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    try:
        os.symlink(os.path.join("..", "..", ".."), LINK)
    except FileExistsError:  # a parallel worker made it first
        pass

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
