"""Release support: which Postfix and Dovecot versions mailstate knows, and what differs.

One state describes intent once; a host's package versions (from the facts) decide how it
is written: `catalog` names the supported releases and reads version strings, `postfix`
checks parameters against the host's Postfix, `dovecot_renames` is the 2.3 <-> 2.4 table
(data) and `dovecot_translate` applies it, `dovecot_live` finds live settings the host's
Dovecot refuses (a host upgraded in place), `host` is the one hook the engine calls.
The per-release tables in `data/` are generated (tools/release_tables.py) and imported
only when a host or a lint target needs that release.
"""
