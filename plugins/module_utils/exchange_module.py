# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ExchangeModule: AnsibleModule + one lazily opened Exchange session + the result conventions.

The session is the host's persistent one when the task runs over the ``mailops.exchange.exchange`` connection
(:class:`PersistentExchangeSession`), else a module-owned :class:`ExchangeSession` built from the ``exchange_*``
options.

A module is a short description of one resource::

    module = ExchangeModule(argument_spec=dict(name=dict(type='str', required=True)))
    current = module.query(ps_script(READ, name=module.params['name']))
    commands = plan(module.params, current)          # pure Python
    module.apply(commands)                           # runs them unless check mode
    module.exit(changed=bool(commands), before=..., after=..., connector=...)

Every failure (:class:`ExchangeError`, a ``ValueError`` raised by validation) becomes ``fail_json`` with its
message and the ``commands`` recorded so far; the session is closed on every exit path.
"""


import copy
import re
import traceback

from ansible.module_utils.basic import AnsibleModule, _load_params, missing_required_lib

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    CONNECTION_ARGUMENT_SPEC, ExchangeCommandError, ExchangeConnectionError, ExchangeError, ExchangeSession,
    describe_commands, insecure_settings_warnings, winrm_import_error,
)
from ansible_collections.mailops.exchange.plugins.module_utils.persistent_session import PersistentExchangeSession


def refuse_control_characters(spec, params, free_text=frozenset(), prefix=""):
    """ValueError for the first option value (nested options and list elements included) with a control character.

    Options marked ``no_log`` (passwords are data, whatever they hold) and those named in ``free_text`` are skipped.
    """
    for name, option in spec.items():
        if option.get("no_log") or name in free_text:
            continue
        _refuse_in_value(prefix + name, params.get(name), option, free_text)


def _refuse_in_value(path, value, option, free_text):
    if isinstance(value, str):
        canonical.refuse_control_characters(value, path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_in_value("%s[%d]" % (path, index), item, option, free_text)
    elif isinstance(value, dict):
        suboptions = option.get("options")
        if suboptions:
            refuse_control_characters(suboptions, value, free_text, prefix=path + ".")
            return
        for key, item in value.items():
            canonical.refuse_control_characters(str(key), "%s (a key)" % path)
            _refuse_in_value("%s.%s" % (path, key), item, {}, free_text)


#: How Exchange refuses a create whose object exists: the Active Directory write fails with
#: ADObjectAlreadyExistsException ("Active Directory operation failed on <DC>. The object '<DN>' already exists.");
#: remote PowerShell puts the exception's name in the error id (``[FailureCategory=Cmdlet-ADObjectAlreadyExistsException]``),
#: the message is the fallback for hosts that do not (it is localised on non-English servers). Importing a
#: certificate that is in the server's store already is refused with "The certificate with thumbprint <X> already
#: exists in the certificate store." (wrapped in "A special Rpc error occurs on server <S>: ...").
ALREADY_EXISTS_ID = "alreadyexistsexception"
ALREADY_EXISTS_MESSAGE = re.compile(r"The object '.+' already exists\.\s*$"
                                    r"|The certificate with thumbprint \w+ already exists in the certificate store", re.S)
CREATE_VERBS = ("new-", "import-")


def lost_create_race(exc, commands=None):
    """True when ``exc`` (an :class:`ExchangeCommandError`; of the batch ``commands`` when given) is a create
    (``New-*``, ``Import-*``) that Exchange refused because the object already exists - another run created it after
    this one read."""
    if not isinstance(exc, ExchangeCommandError):
        return False
    if commands is not None and (not exc.command or exc.command not in commands):
        return False
    cmdlet = (exc.command or "").strip().split(" ", 1)[0] or exc.cmdlet or ""
    if not cmdlet.lower().startswith(CREATE_VERBS):
        return False
    return (ALREADY_EXISTS_ID in (exc.error_id or "").lower()
            or bool(ALREADY_EXISTS_MESSAGE.search(exc.message or "")))


def _changed_parameters(line):
    """``Set-SendConnector for 'To internet' (-Fqdn, -Comment)``: the cmdlet, the object and the parameters of a
    line, not their values (which may be long)."""
    names = [n for n in re.findall(r"\s-(\w+)", line) if n not in ("Identity", "Confirm")]
    return "%s (%s)" % (describe_commands([line]), ", ".join("-" + n for n in names))


class _LostCreateRace(Exception):
    """Ends a module's first attempt in :meth:`ExchangeModule.run`, which reads and plans again (internal)."""

    def __init__(self, error, ran):
        super(_LostCreateRace, self).__init__(str(error))
        self.error = error
        self.ran = list(ran)


__all__ = ["ExchangeModule", "ExchangeCommandError", "ExchangeConnectionError", "ExchangeError", "lost_create_race"]


class _AnsibleModule(AnsibleModule):
    """AnsibleModule whose syslog line of the invocation survives a NUL in an argument.

    Python 3.12's syslog refuses a message with an embedded NUL, and AnsibleModule then fails the task with "Failed to
    log to syslog" before the module has seen its arguments. The NUL is logged visibly (``\\x00``) instead, so the
    module refuses the value with its own message (ExchangeModule: control characters), before anything is sent.
    """

    def _log_to_syslog(self, msg):
        super(_AnsibleModule, self)._log_to_syslog(msg.replace("\x00", "\\x00") if isinstance(msg, str) else msg)


class ExchangeModule:
    """Wraps AnsibleModule: connection options merged in, check mode always supported."""

    #: What stands for AnsibleModule: None is AnsibleModule itself; the action plugins set an in-process stand-in
    #: (plugin_utils/in_process.py) while they run a module inside Ansible's worker.
    ansible_module_factory = None

    def __init__(self, argument_spec, session_factory=None, free_text=(), **ansible_module_kwargs):
        spec = copy.deepcopy(CONNECTION_ARGUMENT_SPEC)
        spec.update(argument_spec or {})
        ansible_module_kwargs["supports_check_mode"] = True
        factory = type(self).ansible_module_factory or _AnsibleModule
        self.ansible = factory(argument_spec=spec, **ansible_module_kwargs)
        self.params = self.ansible.params
        self.check_mode = self.ansible.check_mode
        self.commands = []
        self.conflicts = []
        self._retry_lost_race = False  # True during run()'s first attempt
        self._ran_before_race = []
        self._session = None
        # Names, host names, domains, URLs and templates are one line: a control character in any option (but the
        # module's free-text ones, e.g. a comment, and secrets) is refused here, before anything reaches Exchange.
        try:
            refuse_control_characters(spec, self.params, frozenset(free_text))
        except ValueError as exc:
            self.ansible.fail_json(msg=str(exc), commands=[])
        # Over the mailops.exchange.exchange connection the module talks to the session that connection keeps for
        # the host (one Exchange-shell load per play); otherwise it opens its own WinRM session.
        self.socket_path = getattr(self.ansible, "_socket_path", None) or None
        if session_factory is None:
            session_factory = (PersistentExchangeSession.for_socket(self.socket_path) if self.socket_path
                               else ExchangeSession.from_params)
        self._session_factory = session_factory
        if self.socket_path is None:  # over the connection, the connection warns about its own settings
            self._warn_insecure()

    # -- properties -------------------------------------------------------------------------------------

    def given_params(self):
        """The options as the task wrote them - before defaults and sub-option defaults (absent keys stay absent)."""
        raw = getattr(self.ansible, "raw_params", None)
        if raw is not None:
            return raw
        return _load_params()  # the documented way for a module to read them

    @property
    def diff_mode(self):
        return bool(self.ansible._diff)

    @property
    def session(self):
        """The ExchangeSession, opened on first use."""
        if self._session is None:
            if self._session_factory is ExchangeSession.from_params and winrm_import_error() is not None:
                self.fail(missing_required_lib("pywinrm"), exception=str(winrm_import_error()))
            try:
                self._session = self._session_factory(self.params)
            except (ExchangeError, ValueError) as exc:
                self.fail(str(exc))
        return self._session

    # -- operations -------------------------------------------------------------------------------------

    def query(self, script):
        """Run a read script (ends with ``ConvertTo-Json``) and return the parsed JSON."""
        try:
            return self.session.query(script)
        except (ExchangeError, ValueError) as exc:
            self.fail(str(exc))

    def write_and_read(self, script):
        """Run a script that writes and then reads back in one round trip (unless in check mode: None).

        The caller has recorded the command lines in ``commands``. Like :meth:`apply`, the script is never sent again
        once it may have reached PowerShell, and a failure says whether the writes may have been applied.
        """
        if self.check_mode:
            return None
        try:
            return self.session.query(script, writes=True)
        except ExchangeCommandError as exc:
            self._end_attempt_if_lost_race(exc, None)
            extra = {"failed_command": exc.command} if exc.command else {}
            self.fail(str(exc), **extra)
        except ExchangeConnectionError as exc:
            if exc.not_started:
                self.fail("%s: %s. No write command was sent" % (describe_commands(self.commands),
                                                                 str(exc).rstrip(".")))
            self._fail_unconfirmed(exc, self.commands)
        except (ExchangeError, ValueError) as exc:
            self.fail(str(exc))

    def apply(self, commands, read_back=None):
        """Record the command lines in ``commands``; run them (one batch) unless in check mode. With ``read_back``
        (a read script), the objects are read back in the same round trip: its parsed answer is returned."""
        commands = [c for c in (commands or []) if c]
        self.commands.extend(commands)
        if not commands or self.check_mode:
            return None
        try:
            if read_back is not None:
                return self.session.execute(commands, read_back=read_back)
            self.session.execute(commands)
        except ExchangeCommandError as exc:
            self._end_attempt_if_lost_race(exc, commands)
            self._fail_command(exc, commands)
        except ExchangeError as exc:
            # The connection or the output failed after the commands were sent: they may or may not have run.
            self._fail_unconfirmed(exc, commands)
        except ValueError as exc:
            self.fail(str(exc))

    def converge(self, read, plan, read_back=None, shape=None, replan=None):
        """Read, plan and apply: ``plan(read())`` returns a tuple whose first element is the command lines (the rest
        is the module's: before, after, ...); the lines are applied and the tuple returned.

        Organisation-wide objects are written by every run that configures the organisation: two runs started
        together, or the slices of a sliced AWX job, read "absent" and both create. Every write of a module (this,
        :meth:`apply`, :meth:`write_and_read`) goes through the same rule, in :meth:`run`: when a create (``New-*``,
        ``Import-*``) meets Exchange's duplicate error (:func:`lost_create_race`), this run's create never happened;
        the module's ``main`` runs again - read back, planned again from what is there, what is still needed applied
        (nothing when the other run wrote the same) - once: another failure fails. The conflict is in the task's
        warnings and in the result's ``conflicts`` (the failed command and Exchange's message).

        With ``read_back`` (the read script of ``read``, and ``shape`` for its answer), a real run that writes reads
        the object back in the same round trip and plans again: what the module returns after the write (``after``
        and the rest) is what Exchange reads, so a step's check can use it instead of a second read task; and when
        something is still to change, the write did not take although no error came back, and the task fails
        saying what. A run that writes nothing returns its first read: one round of reads. ``replan`` plans the
        read-back where ``plan`` would write again whatever is read (an action run on every request).
        """
        planned = tuple(plan(read()))
        answer = self.apply(planned[0], read_back=read_back)
        if read_back is None or not planned[0] or self.check_mode:
            return planned
        again = tuple((replan or plan)(shape(answer) if shape is not None else answer))
        self.confirm_read_back(planned[0], again[0])
        return (planned[0], planned[1]) + again[2:]

    def confirm_read_back(self, commands, still_to_change):
        """Fail when the plan made from the read-back still has lines: ``commands`` ran without an error, but
        Exchange did not carry out all of them. Names each cmdlet, object and parameter still to change."""
        if still_to_change:
            self.fail("%s ran without an error, but Exchange reads the object back differently - still to change: %s"
                      " (the lines are in still_to_change)"
                      % (describe_commands(commands), "; ".join(_changed_parameters(line) for line in still_to_change)),
                      still_to_change=list(still_to_change))

    def exit(self, changed, before=None, after=None, **result):
        """exit_json with ``changed``, ``commands``, ``diff`` (when diff mode is on) and the result keys."""
        # Commands of a first attempt that ran before its create lost a race are changes too.
        result["changed"] = bool(changed) or bool(self._ran_before_race)
        result["commands"] = list(self.commands)
        if self.conflicts:
            result["conflicts"] = list(self.conflicts)
        if self.diff_mode:
            result["diff"] = {"before": before if before is not None else {},
                              "after": after if after is not None else {}}
        self.close()
        self.ansible.exit_json(**result)

    def fail(self, msg, **kwargs):
        kwargs.setdefault("commands", list(self.commands))
        self.close()
        self.ansible.fail_json(msg=msg, **kwargs)

    def run(self, main):
        """Call ``main(self)`` turning validation errors and Exchange errors into clean failures.

        When a create of ``main`` lost a race (:meth:`converge`), ``main`` runs once more: it reads what the other
        run created and plans from there."""
        try:
            self._retry_lost_race = True
            try:
                main(self)
            except _LostCreateRace as race:
                self._retry_lost_race = False
                exc = race.error
                self.commands = list(race.ran)
                self._ran_before_race = list(race.ran)
                self.conflicts.append({"command": exc.command or exc.cmdlet, "message": exc.message})
                self.ansible.warn("%s: another run created it meanwhile (%s); read back and converged from what "
                                  "is there" % (describe_commands([exc.command]) if exc.command else exc.cmdlet,
                                                exc.message))
                main(self)
        except (ExchangeError, ValueError) as exc:
            self.fail(str(exc))
        except Exception as exc:  # a bug: still one clear message, the traceback only in 'exception'
            self.fail("unexpected error (%s: %s); this is a bug in the module" % (type(exc).__name__, exc),
                      exception=traceback.format_exc())
        finally:
            self.close()

    def close(self):
        if self._session is not None:
            session, self._session = self._session, None
            for notice in getattr(session, "notices", None) or []:
                self.ansible.warn(notice)
            session.close()

    # -- helpers ------------------------------------------------------------------------------------------

    def _end_attempt_if_lost_race(self, exc, commands):
        """During run()'s first attempt, a create that lost a race ends the attempt (run() reads and plans again)."""
        if self._retry_lost_race and lost_create_race(exc, commands):
            ran = commands[:commands.index(exc.command)] if commands and exc.command in commands else []
            raise _LostCreateRace(exc, ran)

    def _fail_command(self, exc, commands):
        # The batch stops at the first failure: say which commands ran, which failed, which did not run.
        extra = {}
        msg = str(exc)
        if exc.command and exc.command in commands:
            index = commands.index(exc.command)
            extra.update(failed_command=exc.command, applied_commands=commands[:index],
                         skipped_commands=commands[index + 1:])
            if index:
                msg += " (%d earlier command(s) of this task were applied, see applied_commands; " \
                       "run the task again once the cause is fixed)" % index
        elif exc.command:
            extra["failed_command"] = exc.command
        if self.conflicts:
            extra["conflicts"] = list(self.conflicts)
        self.fail(msg, **extra)

    def _fail_unconfirmed(self, exc, commands):
        # The cmdlet and the object, never the script: it may be long, and carry values marked no_log.
        self.fail("%s: %s. The write commands may or may not have been applied (see unconfirmed_commands); "
                  "run the task again to converge" % (describe_commands(commands), str(exc).rstrip(".")),
                  unconfirmed_commands=list(commands))

    def _warn_insecure(self):
        for warning in insecure_settings_warnings(self.params):
            self.ansible.warn(warning)
