"""gaussdb_batch: an Airflow provider for scheduled, exactly-once batch loads into GaussDB."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (registers the ``gaussdb`` conn type)."""
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
                "ui-field-behaviour": {"relabeling": {"schema": "Database"}},
            }
        ],
        "notifications": [
            "gaussdb_batch.notifiers.webhook.DingTalkNotifier",
            "gaussdb_batch.notifiers.webhook.WeComNotifier",
            "gaussdb_batch.notifiers.webhook.SlackWebhookNotifier",
            "gaussdb_batch.notifiers.webhook.JsonWebhookNotifier",
        ],
    }
