// Package keyring encrypts secrets at rest (webhook endpoint secrets,
// provider credentials) with AES-256-GCM under a key the host supplies.
//
// Sealed values carry a version byte and the id of the key that sealed them,
// so a host can rotate its key: pass the new key first and the old ones
// after; Open finds the right key and Seal always uses the first.
// Associated data binds a ciphertext to its row (an endpoint id, say), so a
// sealed secret copied onto another row does not open there.
package keyring
