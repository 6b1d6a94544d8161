// Package migrate applies a package's embedded SQL migrations to a schema the
// host names. Each package (webhook, notify, ...) is a component with its own
// numbered files; applied versions are recorded in <schema>.wedsync_migrations
// and the whole run holds an advisory lock, so several host instances may
// call Migrate at start-up at once.
//
// Migration files are named NNN_description.sql. The token {{schema}} in a
// file is replaced by the quoted schema name, and each file runs in its own
// transaction with search_path set to the schema.
package migrate
