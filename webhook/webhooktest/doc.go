// Package webhooktest helps hosts and integrators test webhooks: a recording
// receiver that verifies signatures and answers as scripted, and a clock a
// test can move so the retry schedule runs without sleeping.
package webhooktest
