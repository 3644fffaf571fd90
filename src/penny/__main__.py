from penny.cli import main

main()
