"""ingest: WARC, WET, JSONL and Parquet files into document shards
(the stage is `stages.ingest.stage.IngestStage`)."""
