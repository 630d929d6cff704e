"""Personal data sealed with a key per customer, revealed at read time, and erased by destroying the key.

master_key.py  the key that wraps every customer's data key: a setting, or a file under BANK_PIPELINE_HOME
sealing.py     AES-256-GCM: seal and open one field's value, wrap and unwrap a data key (no I/O)
keys.py        the data keys in personal_data.customer_keys (sql/017): create, read, destroy
vault.py       the write side: seal the personal fields of events before they are appended
reveal.py      the read side: sealed values back to text, or ERASED_MARKER once the key is gone
erasure.py     erase a customer: the audited event, the key destroyed in the same transaction, the stored
               statements re-rendered; and the sweep that finishes erasures a crash interrupted
legal_holds.py what the read model says about legal holds: the streams the purge must keep
"""
