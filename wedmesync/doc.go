// Package wedmesync keeps couple data (the WedMe app) and supplier data
// (the WedSync supplier platform) in step: a couple's guest count, dietary
// needs, timeline and venue reach their suppliers, and suppliers' bookings
// and timeline items reach the couple. It follows Replicache's push/pull
// and CouchDB replication: idempotent, resumable, convergent.
//
// Each side runs a Node. A host's edit (Record, or RecordTx in the host's
// own Postgres transaction) is applied on its side at once and appended to
// the side's change log. A Change writes fields of one record (a type and
// an id, of one couple), each field stamped with a hybrid logical clock
// reading (Timestamp), or deletes the record (a tombstone).
//
// A Peer moves changes between the sides over a Transport: it pushes its
// log from a push cursor and pulls the other side's from a pull cursor;
// both cursors move only after the changes were applied, and are kept in
// the node's store, so a transport that was down, or a process that was
// killed, resumes where it stopped. Transports: MemoryTransport (one
// process), DBTransport (both platforms on one Postgres, in two schemas;
// LISTEN/NOTIFY wakes the reader) and HTTP (signed the Standard Webhooks
// way, with the webhook package). In Postgres mode Peer.Run also LISTENs
// on its own node's change log, so a change recorded in the host's
// transaction is pushed when that transaction commits, at the cost of one
// connection per running Peer.
//
// Apply takes each change at most once (by id), field by field by
// last-writer-wins on the HLC (ties broken by node id), so both sides end
// the same whatever the order of arrival, duplicates and drops included.
// A manual field (the wedding date, the venue) that this side wrote is not
// overwritten from the other side: a Conflict records both values for a
// person. A change that fails validation or authorisation is quarantined
// with the reason, never dropped, while later changes keep flowing;
// Quarantine lists them and Replay applies one again, fixed or not.
//
// Authorisation: a change applies only if the supplier is linked to the
// couple (the host's Authorizer), and a supplier receives only the fields
// the couple shares with its kind of supplier (SharePolicy: a caterer sees
// dietary needs, a photographer does not). WedMe filters before sending;
// the supplier side filters again on arrival.
//
// Without WithPostgres a node keeps everything in memory (tests, demos);
// with it, in the host's Postgres (Migrate first), where applying a change
// is one transaction: record, applied id and audit entry together.
package wedmesync
