"""``python -m aspectbucket`` runs the command-line tool."""

from aspectbucket.cli import main

main()
