from sensex.interfaces.cli import main

main()
