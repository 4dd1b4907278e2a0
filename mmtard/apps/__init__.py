"""Applications built on mmtard's public API: the embedded demo and the study.

They train the miniature chain (base CLIPs -> teachers -> students, ``chain``) with ``mmtard.apis``,
evaluate it (``scoring``) and report from the data (``analysis``). The core never imports them.
"""
