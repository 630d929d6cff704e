"""Configuration from the environment (BANK_PIPELINE_*)."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BANK_PIPELINE_", extra="ignore")

    #: Any PostgreSQL >= 15. Unset: an embedded PostgreSQL under `home` is started on demand.
    database_url: str | None = None
    #: Where the embedded PostgreSQL, landing zone and other local state live.
    home: Path = Path(".bank_pipeline")
    #: Monthly event partitions kept ready ahead of the current month.
    partitions_ahead_months: int = 3
    #: Where upstream systems deliver landing files (default: `home`/landing).
    landing_dir: Path | None = None
    #: Share of a file's rows that may be quarantined before its blocking check stops downstream assets.
    max_rejection_rate: float = 0.2
    #: How far (seconds) the read model may trail the committed events before its lag check warns.
    max_projection_lag_seconds: float = 60.0
    #: Where generated statements are kept (default: `home`/statements).
    statement_dir: Path | None = None
    #: The formats the monthly statements are generated in, comma-separated: pdf, csv, camt053, mt940.
    statement_formats: str = "pdf,csv,camt053,mt940"
    #: A TOML file overriding the fraud rules' thresholds (bank_pipeline/fraud/configuration.py); unset: defaults.
    fraud_thresholds: Path | None = None
    #: The key API bearer tokens are signed with (HS256, at least 32 bytes). Unset: a random key kept in
    #: `home`/api_signing_key (mode 0600), made on first use, so local tokens work and no key is in the repository.
    api_signing_key: str | None = None
    #: The key wrapping every customer's personal data key (32 bytes, base64). Unset: a random key kept in
    #: `home`/personal_data_master_key (mode 0600), made on first use. Never stored in the database.
    personal_data_master_key: str | None = None
    #: How long a token minted by `bank-pipeline token` stays valid, in seconds.
    api_token_ttl_seconds: int = 3600
    #: How long a read that names a position (read-your-writes) waits for the read model, in seconds.
    api_read_wait_seconds: float = 2.0
    #: Where archived event months go: a directory or an fsspec URI such as s3://bucket/path (default: `home`/archive).
    archive_uri: str | None = None
    #: Months kept hot in PostgreSQL before the current one; older months are archived to Parquet and dropped.
    archive_hot_months: int = 13
    #: Years an ended stream's events are kept before the retention purge reduces them to tombstones.
    archive_retention_years: int = 7

    @property
    def landing_path(self) -> Path:
        return (self.landing_dir or self.home / "landing").resolve()

    @property
    def statement_path(self) -> Path:
        return (self.statement_dir or self.home / "statements").resolve()

    @property
    def archive_location(self) -> str:
        return self.archive_uri or str((self.home / "archive").resolve())

    @property
    def embedded_pgdata(self) -> Path:
        return self.home.resolve() / "pgdata"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
