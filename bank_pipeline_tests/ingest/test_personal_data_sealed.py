"""The demo path: customers ingested from landing files are stored sealed, and read back revealed."""

from bank_pipeline.api.queries import read_customer
from bank_pipeline.application import CommandHandler
from bank_pipeline.ingest.ingestion import Ingestion
from bank_pipeline.projections.projector import Projector
from bank_pipeline_tests.ingest.landing_files import accounts, customers


def test_ingested_customers_are_sealed_in_events_snapshots_and_read_model(fresh_store, tmp_path):
    with Ingestion(CommandHandler(fresh_store), fresh_store.pool, tmp_path, max_rejection_rate=0.5) as ingestion:
        for path in (customers(tmp_path), accounts(tmp_path)):
            assert ingestion.ingest(path).status == "ingested"
    Projector(fresh_store.pool).catch_up()
    with fresh_store.pool.connection() as conn:
        stored = conn.execute(
            "SELECT string_agg(payload::text, ' ') FROM event_store.events WHERE stream_id LIKE 'customer-%%'"
        ).fetchone()[0]
        snapshots = conn.execute(
            "SELECT string_agg(snapshot::text, ' ') FROM event_store.streams WHERE category = 'customer'"
        ).fetchone()[0]
        projected = conn.execute(
            "SELECT string_agg(name || email || address, ' ') FROM projections.customers"
        ).fetchone()[0]
        for text in (stored, snapshots, projected):
            for plain in ("Ada Lovelace", "ada@example.org", "St James", "Bob Smith", "High St"):
                assert plain not in text
        ada = read_customer(conn, "ada", visible_to=None)
    assert (ada.name, ada.email, ada.address) == ("Ada Lovelace", "ada@example.org", "12 St James's Sq")
