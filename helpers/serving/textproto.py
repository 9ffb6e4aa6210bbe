"""Read and split the text protos tensorflow_model_server takes as config files.

`--monitoring_config_file` and `--batching_parameters_file` are both text protos; reading them and
splitting them into tokens is the same for both, so an unreadable file fails the same way.
"""

from __future__ import annotations

import pathlib
import re

from helpers import errors

# One token after any whitespace and `#` comments: a quoted string, punctuation, a name, an integer,
# or any other single character (which the parsers then refuse by name).
_TOKEN = re.compile(r'\s*(?:#[^\n]*\n?\s*)*("(?:[^"\\]|\\.)*"|[{}:;,]|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+|\S)')


def read(path: pathlib.Path, *, flag: str) -> str:
    """The text of the file `flag` names; raises ConfigError naming the flag when it cannot be read."""
    try:
        return path.read_text()
    except OSError as e:
        raise errors.ConfigError(flag, str(path), f"cannot be read: {e}") from e


def tokens(text: str) -> list[str]:
    """The tokens of a text proto, in order, without whitespace or comments."""
    return [match.group(1) for match in _TOKEN.finditer(text)]
