"""Registry: regions, organisations, consortia, practitioners (机构与人员注册)."""
