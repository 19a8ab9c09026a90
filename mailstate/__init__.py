"""mailstate: declarative state for Postfix, Dovecot and Roundcube, applied over SSH."""

__version__ = "0.1.0"
