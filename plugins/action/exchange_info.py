# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of exchange_info: no secret in the module's arguments over the connection (plugin_utils/exchange_action)."""


from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_action import ExchangeActionModule


class ActionModule(ExchangeActionModule):
    pass
