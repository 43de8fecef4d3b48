"""The Airflow plugin that mounts the Batches page (the package's ``airflow.plugins`` entry point).

The FastAPI app is mounted by the api-server at ``/gaussdb-batch``; the external view adds
"Batches" to the UI's navigation, embedding the page at ``/plugin/gaussdb-batches``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from gaussdb_batch.ui.app import URL_PREFIX, create_app


class GaussDBBatchUIPlugin(AirflowPlugin):
    name = "gaussdb_batch_ui"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "gaussdb-batch Batches"}]
    external_views = [{
        "name": "Batches",
        # Relative to the api-server's base URL (no leading slash), so it works behind a proxy prefix.
        "href": URL_PREFIX.lstrip("/") + "/",
        "url_route": "gaussdb-batches",
        "destination": "nav",
        "category": "browse",
    }]
