"""The lab's own overhead per script run, with no injected latency (issue 2's figure).

    PYTHONPATH=tests/lab .venv/bin/python tests/bench/lab_overhead.py [--runs 30]

Starts an in-process lab (Exchange 2019, one server, no DNS/TLS services) and times pywinrm's ``Session.run_ps`` of a
one-line script over Basic/HTTP and NTLM/HTTPS (each run: a new shell, a PowerShell process, the script, the
shell's deletion), and a warm script in a running ``powershell -Command -`` process (the collection's path).
"""

import argparse
import statistics
import tempfile
import time

import winrm

from exchange_lab.lab import Lab


def timed(function, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, min(samples) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state, Lab.start(state, "2019", ["EX01"], "corp.contoso.com") as lab:
        endpoints = lab.endpoints
        user, password = endpoints["username"], endpoints["password"]
        server = endpoints["servers"]["EX01"]
        basic = winrm.Session(server["http"], auth=(user, password), transport="basic")
        ntlm = winrm.Session(server["https"], auth=(user, password), transport="ntlm",
                             server_cert_validation="validate", ca_trust_path=endpoints["ca_bundle"])
        rows = [("run_ps, Basic/HTTP", timed(lambda: basic.run_ps("Write-Output 1"), args.runs)),
                ("run_ps, NTLM/HTTPS", timed(lambda: ntlm.run_ps("Write-Output 1"), args.runs))]

        protocol = ntlm.protocol
        shell = protocol.open_shell()
        command = protocol.run_command(shell, "powershell.exe -NoProfile -NonInteractive -Command -")

        def warm_script():
            protocol.send_command_input(shell, command, b"Write-Output 'done'\r\n\r\n", end=False)
            output = b""
            while b"done" not in output:
                stdout, _stderr, _code, _done = protocol._raw_get_command_output(shell, command)
                output += stdout

        rows.append(("warm script, NTLM/HTTPS, -Command -", timed(warm_script, args.runs)))
        protocol.cleanup_command(shell, command)
        protocol.close_shell(shell)
    print("%-40s %10s %10s" % ("lab overhead per script run", "median ms", "min ms"))
    for name, (median, fastest) in rows:
        print("%-40s %10.1f %10.1f" % (name, median, fastest))


if __name__ == "__main__":
    main()
