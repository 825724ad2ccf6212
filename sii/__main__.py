from sii.cli import main

raise SystemExit(main())
