"""The `gpt` target: a character-level transformer of nanoGPT's shape, pruned in its feed-forward blocks."""
