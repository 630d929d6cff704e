"""What stops ingestion, each with what the operator should do."""


class IngestionError(RuntimeError):
    """Ingestion cannot go on; the message says what the operator should do."""


class EarlierFilesPending(IngestionError):
    """Files that sort before this one are in the landing zone but not ingested yet."""

    def __init__(self, file_name: str, pending: list[str]):
        shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
        super().__init__(
            f"{file_name} must wait for {len(pending)} earlier landing file(s) to be ingested first: {shown}. "
            "They are ingested in landing order (business day, then customers, accounts, transactions, "
            "pain001, camt054); this file is retried once they are done."
        )
        self.pending = pending


class ContentChanged(IngestionError):
    pass


class FileBeingIngested(IngestionError):
    def __init__(self, file_name: str):
        super().__init__(
            f"{file_name} is being ingested by another process right now (the Dagster sensor's run, or another "
            "`bank-pipeline ingest`); this one leaves it alone. Try again once that one has finished."
        )
