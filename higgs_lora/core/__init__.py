"""Layer 1, the ground: errors, atomic file I/O, audio reading, hub ids and revisions, the recipe
schema and its TOML. Knows no backend and imports nothing else of the kit."""
