from semacdr_cli.app import main

main()
