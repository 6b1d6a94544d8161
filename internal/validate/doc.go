// Package validate is the one validation error of the SDK. Every package
// reports bad input as an *Error that names the field and the rule it
// broke, and that matches ErrInvalid with errors.Is; each package re-exports
// both (as ErrInvalid and ValidationError) so that hosts never import this
// package:
//
//	// in package delivery
//	var ErrInvalid = validate.ErrInvalid
//	type ValidationError = validate.Error
//
// The webhook package, which third parties embed and which imports the
// standard library only, has a ValidationError of its own with the same
// fields.
package validate
