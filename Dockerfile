# Airflow 3.3.2 with this project's provider and requirements (used by docker-compose.yaml).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt /opt/airflow/project/requirements.txt
COPY --chown=airflow:root plugins /opt/airflow/project/plugins
WORKDIR /opt/airflow/project
RUN pip install --no-cache-dir -r requirements.txt
WORKDIR /opt/airflow
