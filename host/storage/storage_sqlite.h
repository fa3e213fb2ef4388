/*
 * SQLite back end of dp_storage_t (opened with dp_storage_sqlite_open,
 * declared in engine/storage.h). This header only adds what tests and
 * tools need beyond the storage interface.
 */
#ifndef DP_STORAGE_SQLITE_H
#define DP_STORAGE_SQLITE_H

#include "engine/storage.h"

/* The schema version this build creates and migrates to (PRAGMA
 * user_version of the database file). */
int dp_storage_sqlite_schema_version(void);

/* Fault injection for tests: the n-th row write from now (n >= 1; counting
 * every insert, update and delete statement a call executes) fails as if the
 * disk had returned an I/O error, so the whole call must roll back. n = 0
 * turns injection off. Not thread-safe; same thread rules as the back end. */
void dp_storage_sqlite_fail_after(dp_storage_t *s, unsigned n);

#endif
