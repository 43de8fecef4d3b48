"""The Batches page: an Airflow 3 plugin (FastAPI app plus an external view) over the control schemas."""
