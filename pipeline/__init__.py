"""datapipe orchestration: config, executors, manifests and the CLI.

Importing this package does not import Ray; only `pipeline.executor` does, lazily.
"""

__version__ = "0.1.0"
