"""The edge's printing: printer profiles and ticket templates (data in
``firmware_configs/printers/``), composing ESC/POS bytes in GB18030 text or bitmap mode, the
spool of jobs in SQLite, one worker thread per printer, and the service that routes jobs
and reports their outcomes. See ``docs/printing.md``."""
