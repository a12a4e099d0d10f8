"""The fixture generator behind ``data_samples/generate.py``.

``texts/*.yaml`` hold all the prose (read by ``texts.py``); ``corpus.py`` composes documents from
it and ``sites.py`` renders them as the HTML pages of synthetic sites. ``warc.py`` and
``payloads.py`` write the bytes (gzip members, WARC records, HTTP messages, PNG, PDF).
``crawl.py``, ``jsonl_docs.py`` and ``bad_inputs.py`` build the fixtures, and ``output.py``
writes them with ``_labels.jsonl`` and ``MANIFEST.json``.
"""
