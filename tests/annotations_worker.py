"""A child process that writes review tags and acknowledges each one on stdout.

Used by tests/test_annotations.py: the parent reads the ``ack`` lines, kills this process (or
lets it finish) and checks that every acknowledged edit is in the store. An ``ack`` line is
printed only after ``set_tag`` / ``set_comment`` has returned, i.e. after the commit.

Usage::

    python annotations_worker.py STORE DATASET AUTHOR N [--shared K] [--pause S] [--wait]

Writes examples ``AUTHOR-0`` … ``AUTHOR-(N-1)`` (category "blurry", alternating True/False)
and, with ``--shared K``, also example ``shared-(i % K)`` on every step (value ``i % 2 == 0``),
which the other worker writes too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.annotations import AnnotationStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("dataset")
    parser.add_argument("author")
    parser.add_argument("n", type=int)
    parser.add_argument("--shared", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--wait", action="store_true",
                        help="after 'ready', wait for a line on stdin (a start barrier)")
    args = parser.parse_args()
    store = AnnotationStore(args.store, dataset=args.dataset, author=args.author)
    store.add_category("blurry")
    print("ready", flush=True)
    if args.wait:
        sys.stdin.readline()
    for i in range(args.n):
        key = f"{args.author}-{i}"
        edit = store.set_tag(key, "blurry", i % 2 == 0)
        print(f"ack {edit.seq} {key} blurry {int(i % 2 == 0)}", flush=True)
        if args.shared:
            shared = f"shared-{i % args.shared}"
            edit = store.set_tag(shared, "blurry", i % 2 == 0)
            print(f"ack {edit.seq} {shared} blurry {int(i % 2 == 0)}", flush=True)
            edit = store.set_comment(shared, f"{args.author} step {i}")
            print(f"ack {edit.seq} {shared} comment {args.author} step {i}", flush=True)
        if args.pause:
            time.sleep(args.pause)
    print("done", flush=True)


if __name__ == "__main__":
    main()
