"""The hook that makes papermill find the translator.

papermill 2.x looks translators up in a registry that reads no entry points, but it loads every
``papermill.engine`` entry point when it is imported (command line or library). This package's engine entry
point names this module, so loading it registers the translators; the engine itself is papermill's default
(nbclient), under the name ``prunelab`` (``--engine prunelab`` runs exactly as the default does).
"""

from papermill.engines import NBClientEngine

from . import register

register()


class PrunelabEngine(NBClientEngine):
    """papermill's nbclient engine, unchanged."""
