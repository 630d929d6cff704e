import dagster as dg

from bank_pipeline.defs.ingestion.assets import ingested_landing_file, quarantine_report
from bank_pipeline.defs.ingestion.partitions import landing_files

ingest_landing_file_job = dg.define_asset_job(
    "ingest_landing_file",
    selection=[ingested_landing_file, quarantine_report],
    partitions_def=landing_files,
    description="Ingests one landing file (its partition), then refreshes the quarantine report.",
)
