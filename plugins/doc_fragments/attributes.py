# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' attributes (check mode, diff mode, platform), as ansible.builtin's and microsoft.ad's modules state them."""


class ModuleDocFragment:
    # The modules that change Exchange (every module but exchange_info and exchange_validate).
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The reads run; nothing is written. RV(commands) lists the Exchange Management Shell lines that would
      run - paste-able for review.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff
      mode.
    support: full
    details: Before and after of the properties the module manages.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: windows
    details: Microsoft Exchange Server 2013, 2016, 2019 and SE. The module runs on the controller and reaches the
      server over WinRM (pywinrm).
"""

    # exchange_info: reads only.
    INFO = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads; it runs the same in check mode and never reports C(changed).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff
      mode.
    support: N/A
    details: The module changes nothing.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: windows
    details: Microsoft Exchange Server 2013, 2016, 2019 and SE. The module runs on the controller and reaches the
      server over WinRM (pywinrm).
"""

    # exchange_validate: checks from the controller (DNS, HTTPS, SMTP), no WinRM.
    VALIDATE = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The checks only read, so check mode makes the same checks; the report files are written in check mode
      too. The module never reports C(changed).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff
      mode.
    support: N/A
    details: The module changes nothing.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
    details: Runs on the controller (C(delegate_to=localhost)); it reaches DNS, HTTPS and SMTP endpoints, not WinRM.
"""
