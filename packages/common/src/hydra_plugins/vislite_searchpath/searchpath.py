"""Adds ``pkg://vislite_common.configs`` (trainer, logger, callbacks, launcher, ...) to vislite commands' search path.

Each package's ``train.yaml`` also names it in ``hydra.searchpath``, which is enough to compose; this plugin makes
the shared groups visible where Hydra looks before that (``--help``, tab completion). Other Hydra applications are
left alone: the path is added only when a vislite config package is already on the search path.
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

COMMON_CONFIGS = "pkg://vislite_common.configs"


class VisliteSearchPathPlugin(SearchPathPlugin):
    """Appends vislite-common's configs to the search path of a vislite command."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        paths = [element.path or "" for element in search_path.get_path()]
        if any("vislite_" in path for path in paths) and COMMON_CONFIGS not in paths:
            search_path.append(provider="vislite-common", path=COMMON_CONFIGS)
