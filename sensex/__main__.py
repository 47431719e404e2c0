from sensex.cli import main

main()
