"""A build report as people read it: repeated notes and skip reasons become one line with a count and an example.

A folder of 85 animated GIFs gives 85 notes "<file>: animation, first frame used"; ``info`` shows
"85 × animation, first frame used (e.g. a/cat.gif)" instead of 85 lines.
"""

from __future__ import annotations


def group(pairs: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
    """(message, count, first item) for each distinct message of (item, message) pairs, in first-seen order."""
    out: dict[str, list] = {}
    for item, message in pairs:
        if message in out:
            out[message][1] += 1
        else:
            out[message] = [message, 1, item]
    return [tuple(g) for g in out.values()]  # type: ignore[misc]


def note_lines(notes: list[str]) -> list[str]:
    """Notes with those that differ only in their item (``<item>: <message>``) grouped into one line."""
    pairs = [(item, message) if sep else ("", note)
             for note in notes for item, sep, message in [note.partition(": ")]]
    lines = []
    for message, count, item in group(pairs):
        lines.append(f"{count:,} × {message} (e.g. {item})" if count > 1 else (f"{item}: {message}" if item else message))
    return lines


def skip_lines(skipped: list[dict]) -> list[str]:
    """Skipped inputs, one line per reason: the item itself when alone, else the count and an example."""
    return [f"{count:,} × {reason} (e.g. {item})" if count > 1 else f"{item}: {reason}"
            for reason, count, item in group([(s["item"], s["reason"]) for s in skipped])]
