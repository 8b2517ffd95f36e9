"""The store: events, findings, cycles and watermarks behind one interface.

SQLite under the project's data folder by default; any SQLAlchemy URL
(PostgreSQL included) through the `database_url` setting.
"""

from vpm.store.core import Store, open_store, read_last_cycle

__all__ = ["Store", "open_store", "read_last_cycle"]
