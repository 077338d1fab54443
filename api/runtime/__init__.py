"""What every long-lived part of the service shares: the start/close lifecycle and the one
shape of periodic work. The lowest layer of ``api/``: it imports nothing else of it."""
