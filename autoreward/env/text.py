"""NLE's text fields as str: the message line, the inventory's rows (NUL-terminated latin-1 bytes).

Reward code reads them through State (autoreward.env.state) on every step, so the inventory, which seldom
changes, is decoded once per distinct content in a process, not once per State.
"""

from __future__ import annotations


def decode_text(raw: bytes) -> str:
    """One of NLE's text fields (the message line, an inventory row: NUL-terminated latin-1 bytes) as text."""
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


_INVENTORY_ROW = 80  # inv_strs: 55 rows of 80 NUL-padded bytes
# the rows as text; lower-cased; lower-cased and joined by newlines (has_item: one substring search, not one per row)
InventoryLines = tuple[tuple[str, ...], tuple[str, ...], str]
_INVENTORY_MEMO_SIZE = 1024  # inventories remembered per process (4.4 KB each), then forgotten all at once
_inventory_memo: dict[bytes, InventoryLines] = {}
_last_inventory: tuple[bytes | None, InventoryLines] = (None, ((), (), ""))


def decode_inventory(raw: bytes | None) -> InventoryLines:
    """inv_strs' non-empty rows as text, lower-cased, and lower-cased in one string (for has_item).

    An inventory seldom changes from one step to the next, and the envs of one worker hold few different ones,
    so decodings are remembered per process by their bytes: the last one compared first (a memcmp), then a
    bounded table (a hash). Tuples of str are immutable: States may share them.
    """
    global _last_inventory
    if raw is None:
        return (), (), ""
    last_raw, last_lines = _last_inventory  # one reference read: safe beside other threads
    if raw == last_raw:
        return last_lines
    lines = _inventory_memo.get(raw)
    if lines is None:
        width = _INVENTORY_ROW
        text = tuple(decode_text(raw[i:i + width]) for i in range(0, len(raw), width) if raw[i])
        lower = tuple(line.lower() for line in text)
        lines = (text, lower, "\n".join(lower))
        if len(_inventory_memo) >= _INVENTORY_MEMO_SIZE:
            _inventory_memo.clear()
        _inventory_memo[raw] = lines
    _last_inventory = (raw, lines)
    return lines
