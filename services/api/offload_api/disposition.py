"""`Content-Disposition` for a downloaded file, whatever script its name is written in.

HTTP header values are Latin-1 at best, and a quote or a line break in a filename would end the
parameter or the header. So every download names the file twice (RFC 6266): an ASCII fallback
in `filename="..."` (accents stripped, anything else unsafe replaced by '_'), and the exact name
in `filename*=UTF-8''...` (RFC 5987 percent-encoding), which every current browser prefers.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 !#$&+,.;=@^_`{}~()\[\]-]")


def attachment(filename: str) -> str:
    exact = quote(filename, safe="")
    return f"attachment; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{exact}"


def ascii_fallback(filename: str) -> str:
    """The name in plain ASCII: 'Résumé.xlsx' -> 'Resume.xlsx', 'отчёт.xlsx' -> 'download.xlsx'
    (a name with nothing left but underscores reads worse than a generic one)."""
    path = PurePosixPath(filename.replace("/", "_").replace("\\", "_"))
    stem, suffix = path.stem, path.suffix
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    plain = _UNSAFE_ASCII.sub("_", plain).strip(" ._")
    if not plain.strip("_"):
        plain = "download"
    return plain + _UNSAFE_ASCII.sub("_", suffix.encode("ascii", "ignore").decode("ascii"))
