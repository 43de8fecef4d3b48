"""The Airflow plugin that mounts the Batches page (the package's ``airflow.plugins`` entry point).

The FastAPI app is mounted by the api-server at ``/gaussdb-batch``; the external view adds
"Batches" to the UI's navigation, embedding the page at ``/plugin/gaussdb-batches``. Every
Airflow process loads plugins (workers too, for listeners), so this module stays light: the app
and the api-server modules it needs are imported only when the api-server asks for the app.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/gaussdb-batch"


@functools.cache
def _app() -> Any:
    from gaussdb_batch.ui.app import create_app

    return create_app()


class GaussDBBatchUIPlugin(AirflowPlugin):
    name = "gaussdb_batch_ui"
    external_views = [{
        "name": "Batches",
        # Relative to the api-server's base URL (no leading slash), so it works behind a proxy prefix.
        "href": URL_PREFIX.lstrip("/") + "/",
        "url_route": "gaussdb-batches",
        "destination": "nav",
        "category": "browse",
    }]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [{"app": _app(), "url_prefix": URL_PREFIX, "name": "gaussdb-batch Batches"}]
