import sys

from openlpm.cli.main import main

sys.exit(main())
