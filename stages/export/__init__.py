"""Token shards per mixture source and a manifest a trainer follows (docs/export.md)."""
