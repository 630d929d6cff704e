"""The thin HTTP API: customers read their accounts, balances, transactions and statements from the projections
and send commands; operators and auditors read the audit trail and fraud alerts and freeze accounts.

`app.create_app()` builds it; `bank-pipeline api` serves it with uvicorn. Every request is authenticated with a
bearer token (`tokens.py`); every error is RFC 9457 problem+json (`problems.py`).
"""
