"""Shared plumbing: errors, crypto for identifiers, pagination, FHIR helpers."""
