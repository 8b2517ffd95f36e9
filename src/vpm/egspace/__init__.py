"""EG-Space: events, evidence and goals as vectors; C, G, δ and the movers.

Modules, in the order data flows through them:

- `items`: watcher events and the state document become items and goal lines;
- `lexical`, `neural`, `embedders`: turn text into L2-normalized vectors;
- `store`, `pgstore`: keep vectors in SQLite (sqlite-vec or NumPy) or pgvector;
- `index`: incremental indexing by content hash;
- `space`, `report`, `render`: C, G, δ, contributions, time series, Markdown;
- `findings`: planner findings and digest movers from an existing index;
- `cli`: the `vpm egspace` commands.

See docs/egspace.md for the definitions.
"""
