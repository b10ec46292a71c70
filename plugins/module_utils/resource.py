# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One resource engine: each Exchange object is a table of its properties, written once.

A :class:`Field` says, for one property: the module option, the Exchange property and parameter, how it is read
(its projection in the read script), its canonical form, how a wanted value compares with what is read, how it is
written, what the object reads after the write, the key ``exchange_info`` returns it under, and whether it can only be
given when the object is created. A :class:`Resource` is the table of one object (``SendConnector``,
``AcceptedDomain``, ...). From the table come:

- the read script's projection (:meth:`Resource.projection`), for the module (Exchange names) and for
  ``exchange_info`` (its keys) - so both read the same properties the same way;
- the read record in the module's shape (:meth:`Resource.read`);
- the plan: the ``New-``/``Set-``/``Remove-`` lines and the before/after states (:meth:`Resource.create`,
  :meth:`Resource.update`, :meth:`Resource.remove`) - or lines of the object's other verbs (the certificate's
  ``Import-`` and ``Enable-``), named by other parameters than ``-Identity`` where the object wants them.

What is particular to an object (the interplay of two options, a clash with another object, a default on create)
stays in its module, which hands the engine the wanted values; the engine does the rest. No network here: the
engine is plain Python, unit-tested without Exchange; the lines go through :func:`ps_command` (the one quoting
function).
"""

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_command


def as_list(value):
    """A multi-valued property as read: PowerShell's ConvertTo-Json gives a single element as a scalar."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, str):
        return [value] if value else []
    return list(value)


def flags(value):
    """A flags enum as read (``"Tls, BasicAuth"`` or a list): its names, ``None`` dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value if v and v.strip() and v.strip().casefold() != "none"]


# How a property is read: its projection in PowerShell ({0} is the property name) and its Python form.
KINDS = {
    "text": ("[string]$_.{0}", canonical.text),
    "bool": ("[bool]$_.{0}", bool),
    "list": ("@($_.{0} | ForEach-Object {{ [string]$_ }})", as_list),
    "flags": ("[string]$_.{0}", flags),
    "name": ("[string]$_.{0}", lambda value: value),
    # Read through the string form, the same for live objects (EMS, snap-in) and for what a plain Import-PSSession
    # delivers, where Exchange-typed values and the elements of multi-valued ones arrive as strings.
    "flag": ("([string]$_.{0} -eq 'True')", bool),
    "strings": ("@(@($_.{0}) | Where-Object {{ $null -ne $_ }} | ForEach-Object {{ [string]$_ }})",
                lambda value: [v for v in as_list(value) if v not in (None, "")]),
}


def _identity(value):
    return value


class Field:
    """One property of an Exchange object (see the module docstring)."""

    def __init__(self, option, exchange, kind="text", info=None, key=None, same=None, after=None, argument=None,
                 create_only=False, read_only=False, unordered=False, parameter=None, reader=None, sent_with=(),
                 sent_if=None, sent_default=None, additive=False):
        self.option = option              # the module option (and the key of the module's read record)
        self.exchange = exchange          # the Exchange property (read)
        self.parameter = parameter or exchange  # the cmdlet parameter that writes it
        self.kind = kind
        self.info = info or option        # the key exchange_info returns it under
        self.key = key                    # canonical form of one value (of each element, for lists)
        self.unordered = unordered        # lists: compared as sets of canonical values
        self._same = same                 # (wanted argument, value read) -> bool, when the rule is not canonical
        self._after = after or _identity  # wanted argument -> what the object reads after the write
        self._argument = argument or _identity  # wanted argument -> the cmdlet's argument
        self.create_only = create_only    # the Set- cmdlet has no such parameter
        self.read_only = read_only        # read and reported, never written
        self._reader = reader             # value as read -> the module's form, after the kind's own reading
        # Written whenever one of these options is written (the cmdlet wants them together - Exchange's "when you use
        # the InternalUrl or ExternalUrl parameters, you need to specify ... IISAuthenticationMethods"): with the
        # task's value, else the current one, else sent_default. sent_if(new value of the partner) narrows it.
        self.sent_with = tuple(sent_with)
        self.sent_if = sent_if
        self.sent_default = sent_default
        # A multi-valued property whose cmdlet only adds (Enable-ExchangeCertificate -Services): the wanted values
        # are there when they are among the current ones, and the line carries the missing ones.
        self.additive = additive

    def projection(self):
        return KINDS[self.kind][0].format(self.exchange)

    def read(self, value):
        value = KINDS[self.kind][1](value)
        return self._reader(value) if self._reader is not None else value

    def missing(self, wanted, current):
        """An additive field's wanted values that ``current`` lacks (compared by their canonical form)."""
        key = self.key or _identity
        there = set(key(v) for v in current or [])
        return [v for v in wanted or [] if key(v) not in there]

    def same(self, wanted, current):
        if self._same is not None:
            return self._same(wanted, current)
        if self.additive:
            return not self.missing(wanted, current)
        if self.kind in ("list", "flags", "strings"):
            if self.unordered:
                return canonical.same_set(wanted or [], current or [], key=self.key)
            key = self.key or _identity
            return [key(v) for v in wanted or []] == [key(v) for v in current or []]
        key = self.key or _identity
        return key(wanted) == key(current)

    def after(self, wanted):
        return self._after(wanted)

    def argument(self, wanted):
        return self._argument(wanted)


class MissingCompanion(ValueError):
    """A field that must be sent with another has no value to send (neither the task's nor the object's)."""

    def __init__(self, resource, field, partners):
        self.resource, self.field, self.partners = resource, field, partners
        ValueError.__init__(self, "Set-%s needs -%s with -%s, and no value for it was given or could be read"
                            % (resource.noun, field.parameter,
                               ", -".join(resource.by_option[option].parameter for option in partners)))


class Resource:
    """The table of one Exchange object: ``noun`` (``SendConnector``), its fields in the order its lines print
    them, and the field that names it (``Identity`` of its Set- and Remove- lines)."""

    def __init__(self, noun, fields, name="name"):
        self.noun = noun
        self.fields = list(fields)
        self.by_option = dict((f.option, f) for f in self.fields)
        self.name = self.by_option[name]

    def _identity(self, current, identity):
        """The parameters that name the object in a line: ``identity`` as given - a list of (parameter, value), or
        a value for -Identity - else -Identity with the object's name."""
        if isinstance(identity, list):
            return list(identity)
        return [("Identity", identity if identity is not None else current[self.name.option])]

    # --- reading ---------------------------------------------------------------------------------------------

    def projection(self, keys="exchange", indent="        ", separator="\n"):
        """The ``@{ key = projection ... }`` body of a ``ForEach-Object`` over ``Get-<noun>``: keys are Exchange's
        property names (``keys="exchange"``, the modules) or ``exchange_info``'s keys (``keys="info"``); one line
        per property, or ``separator="; "`` for one line."""
        lines = []
        for field in self.fields:
            key = field.exchange if keys == "exchange" else field.info
            lines.append("%s%s = %s" % (indent, key, field.projection()))
        return separator.join(lines)

    def read(self, record, keys="exchange"):
        """A record as the read script returned it -> the module's shape (options as keys, canonical values)."""
        out = {}
        for field in self.fields:
            out[field.option] = field.read(record.get(field.exchange if keys == "exchange" else field.info))
        out["state"] = "present"
        return out

    def find(self, records, name):
        """The record (module shape) whose name is ``name`` (Exchange compares names without case), or None."""
        wanted = (name or "").casefold()
        return next((r for r in records if (r.get(self.name.option) or "").casefold() == wanted), None)

    # --- planning --------------------------------------------------------------------------------------------

    def create(self, identity_arguments, wanted, verb="New"):
        """(line, after) of ``New-<noun>`` (or ``<verb>-<noun>``: ``Import``): ``identity_arguments`` first (an
        ordered list of (parameter, value)), then the wanted fields in the table's order; ``wanted`` maps options to
        the task's values (a field whose cmdlet argument is None is left to Exchange's default)."""
        arguments = list(identity_arguments)
        given = set(name for name, _unused in arguments)
        after = {}
        for field in self.fields:
            if field.option not in wanted or field.read_only:
                continue
            value = wanted[field.option]
            after[field.option] = field.after(value)
            argument = field.argument(value)
            if field.parameter in given:
                arguments = [(n, argument if n == field.parameter else v) for n, v in arguments]
            elif argument is not None:
                arguments.append((field.parameter, argument))
        return ps_command(verb + "-" + self.noun, dict(arguments)), after

    def update(self, current, wanted, identity=None, verb="Set", switches=()):
        """(lines, after) of ``Set-<noun>`` (or ``<verb>-<noun>``: ``Enable``) for what differs between ``current``
        (module shape, as read) and ``wanted`` (options -> arguments, only what the task sets): no line when nothing
        differs. A create-only field that differs is refused by the caller before this (the engine never silently
        drops a wanted change). A field sent with another (``sent_with``) joins the line when that one is written;
        with no value to send it raises :class:`MissingCompanion`. An additive field writes the values it lacks.
        The parameters follow the table's order, then ``switches`` (a list of (parameter, value)) end the line;
        ``identity`` names the object (see :meth:`_identity`)."""
        after = dict(current)
        changes = {}
        for field in self.fields:
            if field.option not in wanted or field.read_only:
                continue
            value = wanted[field.option]
            if field.same(value, current.get(field.option)):
                continue
            if field.create_only:
                raise ValueError("%s '%s': %s cannot be changed (Set-%s has no -%s); remove it and create it again"
                                 % (self.noun, current.get(self.name.option), field.option, self.noun,
                                    field.exchange))
            if field.additive:
                missing = field.missing(value, current.get(field.option))
                changes[field.option] = field.argument(missing)
                after[field.option] = field.after(list(current.get(field.option) or []) + missing)
                continue
            changes[field.option] = field.argument(value)
            after[field.option] = field.after(value)
        for field in self.fields:
            if not field.sent_with or field.option in changes or field.read_only:
                continue
            partners = [option for option in field.sent_with if option in changes
                        and (field.sent_if is None or field.sent_if(after[option]))]
            if not partners:
                continue
            value = wanted.get(field.option)
            if value is None:
                value = current.get(field.option)
            if value is None or value == []:
                value = field.sent_default
            if value is None:
                raise MissingCompanion(self, field, partners)
            changes[field.option] = field.argument(value)
            after[field.option] = field.after(value)
        if not changes:
            return [], after
        line = self._identity(current, identity)
        line += [(field.parameter, changes[field.option]) for field in self.fields if field.option in changes]
        line += list(switches)
        return [ps_command(verb + "-" + self.noun, dict(line))], after

    def remove(self, current, identity=None):
        """(lines, after) of ``Remove-<noun>`` (no line when it is absent); ``identity`` as for :meth:`update`."""
        if current is None:
            return [], None
        line = self._identity(current, identity) + [("Confirm", False)]
        return ([ps_command("Remove-" + self.noun, dict(line))],
                {self.name.option: current[self.name.option], "state": "absent"})
