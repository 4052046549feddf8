"""Where an access is logged: the tamper-evident audit log (SPEC §7).

`chain` defines what is hashed, `store` appends to the log in SQLite or PostgreSQL from any number of
processes without forking the chain, `verify` proves the log complete and unaltered."""
