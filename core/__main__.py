import sys

from regiocrm.cli.main import main

sys.exit(main())
