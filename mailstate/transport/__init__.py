"""How mailstate reaches a host: SSH (paramiko) for real hosts, local for this machine.

Nothing above this package imports paramiko; everything talks to a `Connection`.
"""
