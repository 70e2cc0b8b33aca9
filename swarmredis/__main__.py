from swarmredis.cli import main

main()
