"""FHIR R4 store: ingestion, read, search, projectors (健康档案存储与调阅)."""
