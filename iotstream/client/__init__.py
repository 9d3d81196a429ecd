"""Talking to a running platform from elsewhere: files of history turned into readings (`files`) and
sent over HTTP with retries (`sending`)."""
