"""Helpers to compare lab states (show-state JSON) without depending on every detail of its layout."""


def _key(item):
    if isinstance(item, dict):
        for name in ("identity", "Identity", "name", "Name", "thumbprint", "Thumbprint", "guid"):
            if isinstance(item.get(name), str):
                return item[name]
    return None


def changes(before, after, path=()):
    """Paths (tuples) where two JSON values differ; list items with a name/identity are matched by it."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            if key not in before or key not in after:
                out.append(path + (key,))
            else:
                out += changes(before[key], after[key], path + (key,))
        return out
    if isinstance(before, list) and isinstance(after, list):
        keys_b = [_key(i) for i in before]
        keys_a = [_key(i) for i in after]
        if all(k is not None for k in keys_b + keys_a) and len(set(keys_b)) == len(keys_b) and len(set(keys_a)) == len(keys_a):
            b = dict(zip(keys_b, before))
            a = dict(zip(keys_a, after))
            out = []
            for key in sorted(set(b) | set(a)):
                if key not in b or key not in a:
                    out.append(path + (key,))
                else:
                    out += changes(b[key], a[key], path + (key,))
            return out
        return [] if before == after else [path]
    return [] if before == after else [path]


def find(state, collection, name):
    """The record called ``name`` in ``state[collection]`` or in any server's ``collection``."""
    pools = []
    if isinstance(state.get(collection), list):
        pools.append(state[collection])
    for server in (state.get("servers") or {}).values():
        if isinstance(server, dict) and isinstance(server.get(collection), list):
            pools.append(server[collection])
    for pool in pools:
        for record in pool:
            if isinstance(record, dict) and str(record.get("name", record.get("Name", ""))).casefold() == name.casefold():
                return record
    return None


def props(record):
    if record is None:
        return None
    return record.get("props", record)
