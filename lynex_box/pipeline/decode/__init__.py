"""What the pipeline asks of a source's WAL decoder (`types`) and which decoder serves which record type
(`registry`). The sources implement these; the pipeline imports no source: `engine` fills the registry."""
