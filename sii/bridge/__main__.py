"""`python -m sii.bridge`: what sii/bridge_node/sii-bridge.js runs."""

from sii.bridge.server import main

raise SystemExit(main())
