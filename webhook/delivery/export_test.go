package delivery

// WithBatchHook exposes withBatchHook to the package's external tests.
var WithBatchHook = withBatchHook
