"""A Schema Registry compatible with Confluent's REST API, kept in the log's compacted `_schemas` topic
in the record format Confluent's registry writes (see `records`)."""
