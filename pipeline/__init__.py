"""datapipe's drivers: config, CLI, executors, runner, status and report.

They sit on top of `stages/` and `tokenizer/`, which sit on `core/`. Importing this package
does not import Ray; only `pipeline.executor` does, lazily.
"""
