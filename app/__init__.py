"""ledgerguard's application: the layer on top that wires connectors, scanner and reports
together — the click CLI, everything printed on the terminal, ``validate`` of every file
type, ``collect`` orchestration, and the demo company. Nothing below imports it."""
