"""The seed, crawl name and clock every fixture derives from: never the real clock, so that two
runs write byte-identical files."""

from datetime import UTC, datetime

SEED = 20240522
CRAWL = "CC-MAIN-2024-22"
BASE_DATE = datetime(2024, 5, 20, tzinfo=UTC)
