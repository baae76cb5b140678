"""Channel-neutral domain and engine. Imports no Flask and no channel SDK."""
