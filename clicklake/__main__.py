import sys

from clicklake.cli import main

sys.exit(main())
