"""A tiny study folder in the Copenhagen Networks Study's published CSV layout, for tests."""

from __future__ import annotations

from pathlib import Path


def write_study(folder: Path, *, calls: str, sms: str, friends: str) -> Path:
    """A tiny study folder in the published CSV layout (headers as in the real files)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calls.csv").write_text("timestamp,caller,callee,duration\n" + calls)
    (folder / "sms.csv").write_text("timestamp,sender,recipient\n" + sms)
    (folder / "fb_friends.csv").write_text("# user_a,user_b\n" + friends)
    return folder
