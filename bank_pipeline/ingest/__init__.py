"""Landing-file ingestion: the files upstream systems deliver, parsed, validated and turned into commands."""
