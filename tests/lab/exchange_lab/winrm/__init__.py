"""The lab's WS-Management (WinRM) endpoint: SOAP shell operations, Basic/NTLM auth, message encryption, HTTPS."""
