"""Safety-lexicon hits of every text of a batch in one compiled call: the count that
`sum(Lexicon.safety().find(text).values())` gives, from the batch's code points.

The walk is the text toolkit's (`Lexicon.find_batch`, `stages/text/lexicon_kernel.py`, where
the matching rules are), which falls back to the lexicon's regexes for a text it cannot read
exactly. tests/test_score_batch.py checks the counts against `Lexicon.find`.
"""

from __future__ import annotations

from stages.score.batch import TextBatch
from stages.text import Lexicon


def safety_hits(batch: TextBatch, lexicon: Lexicon) -> list[int]:
    """Hits of `lexicon` (the score stage's `Lexicon.safety()`) in each text of the batch."""
    return [sum(found.values()) for found in lexicon.find_batch(batch.cp, batch.bounds)]
