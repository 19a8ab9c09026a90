"""Audit mail hosts from the network: what an outside scanner sees, judged against the state.

The guide starts from an nmap scan; admins want to verify the result from outside rather
than trust the configuration. `probes` observe (TCP, SMTP, IMAP, POP3, TLS), `findings`
judge against `expectations.expected_listeners(state)` and mail hygiene, `runner` runs
it all under a concurrency cap, `view` renders the reports. Pure standard library
networking: no nmap at run time.
"""
