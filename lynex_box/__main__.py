"""`python -m lynex_box` is the `lynex-box` command."""

from lynex_box.cli import main

main()
