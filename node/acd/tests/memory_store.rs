//! The behaviour suite against the in-memory store.
cc_acd::conformance_suite!(((), cc_acd::MemoryStore::new()));
