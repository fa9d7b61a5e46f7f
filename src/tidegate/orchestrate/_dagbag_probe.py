"""Run by the Airflow interpreter (not tidegate's): import a DAG folder with Airflow's DagBag
and print what it found as one JSON document. Standard library and Airflow only."""

import json
import sys
import time
import warnings

warnings.simplefilter("ignore")
started = time.perf_counter()
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
imported = time.perf_counter() - started
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
print(
    "\nTIDEGATE-DAGBAG "
    + json.dumps(
        {
            "airflow_import_seconds": imported,
            "import_errors": {str(path): str(error) for path, error in bag.import_errors.items()},
            "dags": {
                dag_id: {"fileloc": dag.fileloc, "tasks": len(dag.tasks)} for dag_id, dag in bag.dags.items()
            },
            "stats": [
                {"file": str(stat.file), "seconds": stat.duration.total_seconds(), "dags": stat.dag_num}
                for stat in bag.dagbag_stats
            ],
        }
    )
)
