"""Dataset-scale jobs: `strokelens explain --out` and `strokelens evaluate --out` over whole datasets.

Rows go to Parquet shards with a manifest (`JobFolder`), a killed job resumes where it stopped
(``resume=True``), and the same job runs here or on Ray (``backend="ray"``) with the same rows. A
drawing that cannot be done is a skipped row with its reason; the job goes on.

    from strokelens.jobs import JobSpec, run_job
    spec = JobSpec("explain", "sketch", {"name": "doodlenet"}, ("sla",))
    result = run_job(spec, files, "out/job", lambda: view_for(load_model("doodlenet")))
    rows = result.folder.read_rows()          # a pyarrow Table, one row per drawing
"""

from strokelens.jobs.folder import JobFolder
from strokelens.jobs.run import JobResult, rows_equal, run_job, summarise
from strokelens.jobs.spec import JobSpec

__all__ = ["JobFolder", "JobResult", "JobSpec", "rows_equal", "run_job", "summarise"]
