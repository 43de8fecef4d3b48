"""gaussdb_batch: an Airflow provider for scheduled, exactly-once batch loads into GaussDB."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (registers the ``gaussdb`` conn type)."""
    from gaussdb_batch.hooks.form import CONN_FIELDS, provider_ui_behaviour

    return {
        "package-name": "gaussdb-batch",
        "name": "GaussDB Batch",
        "description": "Scheduled, exactly-once batch loads into GaussDB / openGauss.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "GaussDB",
                "external-doc-url": "https://opengauss.org/",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {
                "integration-name": "GaussDB",
                "python-modules": ["gaussdb_batch.hooks.gaussdb"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "gaussdb_batch.hooks.gaussdb.GaussDBHook",
                "hook-name": "GaussDB",
                "connection-type": "gaussdb",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": provider_ui_behaviour(),
            }
        ],
        "notifications": [
            "gaussdb_batch.notifiers.webhook.DingTalkNotifier",
            "gaussdb_batch.notifiers.webhook.WeComNotifier",
            "gaussdb_batch.notifiers.webhook.SlackWebhookNotifier",
            "gaussdb_batch.notifiers.webhook.JsonWebhookNotifier",
        ],
    }
