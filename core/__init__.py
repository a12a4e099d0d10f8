"""The bottom layer: what every other package of datapipe stands on.

The document schema, shard I/O, the step exchange of global stages, stage-directory layout
and markers, the export manifest format, seeded draws and decompressing readers. It imports
nothing else of ours (tests/test_layers.py enforces it): stages and the tokenizer build on it,
and the drivers in `pipeline/` sit on top of both.
"""

__version__ = "0.1.0"
