from ingest_service.server import main

main()
