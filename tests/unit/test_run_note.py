"""The DAG run note listener: its text, and that Airflow's plugin manager registers it from the entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from gaussdb_batch.run_note import GaussDBBatchPlugin, note_text


def test_the_note_names_the_interval_and_the_batch_run():
    batch_run = {"run_id": 42, "interval": "2026-07-01T00:00:00+00:00 .. 2026-08-01T00:00:00+00:00", "attempt": 2,
                 "control_schema": "gaussdb_batch"}
    assert note_text(batch_run, "success") == ("Loaded 2026-07-01 .. 2026-08-01: batch run 42 (attempt 2) in "
                                               "gaussdb_batch.runs, success")
    hourly = {**batch_run, "interval": "2026-07-01T05:00:00+00:00 .. 2026-07-01T06:00:00+00:00"}
    assert note_text(hourly, "failed").startswith("Loaded 2026-07-01T05:00:00+00:00 .. 2026-07-01T06:00:00+00:00:")


def test_the_provider_registers_the_listener_as_an_airflow_plugin():
    from airflow.listeners.listener import ListenerManager

    plugins = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert plugins.get("gaussdb_batch") == "gaussdb_batch.run_note:GaussDBBatchPlugin"
    manager = ListenerManager()
    for listener in GaussDBBatchPlugin.listeners:
        manager.add_listener(listener)
    assert manager.has_listeners
    assert manager.hook.on_dag_run_success.get_hookimpls()
