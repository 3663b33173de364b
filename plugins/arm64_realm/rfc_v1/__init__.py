"""The RFC-v1 realm UABI (linux-cca cca-host/rfc-v1, kvmtool cca/rfc-v1): constants,
structures, calls and the lifecycle (:class:`.lifecycle.RfcV1`)."""
