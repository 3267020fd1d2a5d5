"""Rewrites the table of all zoo entries in docs/zoo.md from the catalog.

Usage (from the repository root): python zoo/entries_table.py
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main():
    from kerasgan.zoo.entry import write_entries_table

    with open(os.path.join(REPO, "kerasgan", "zoo", "catalog.json")) as f:
        catalog = json.load(f)
    write_entries_table(os.path.join(REPO, "docs", "zoo.md"), catalog)
    print(f"docs/zoo.md: {len(catalog['entries'])} entries")


if __name__ == "__main__":
    main()
