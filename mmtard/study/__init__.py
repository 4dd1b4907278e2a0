"""`mmtard study`: the paper's three claims measured on the demo's miniature, as frontiers over seeds.

The demo compares single points; the paper's question (does MMT-ARD give more robustness and more
zero-shot accuracy than single-teacher distillation, in fewer steps?) needs methods compared at
matched clean accuracy and along training. A full run's report is committed as docs/study.md.
"""
