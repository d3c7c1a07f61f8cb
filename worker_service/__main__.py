from worker_service.server import main

main()
