"""Real network services the lab runs beside its WinRM endpoints so that validation has something true to check.

- :mod:`.dns`: BIND 9 ``named``, one instance for the public view and one for the private view (split-brain DNS),
  changed only through TSIG-signed dynamic updates (RFC 2136).
- :mod:`.tls`: per Exchange server, an HTTPS listener (IIS) and an SMTP submission listener with STARTTLS
  (the Client Frontend connector, aiosmtpd) that present whichever certificate the lab's state enables for IIS and
  for SMTP at the moment a client connects.
"""
