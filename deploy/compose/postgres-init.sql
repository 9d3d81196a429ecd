-- The catalog gets a database of its own next to the store's (POSTGRES_DB creates that one).
CREATE DATABASE iotstream_registry OWNER iotstream;
