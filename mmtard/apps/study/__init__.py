"""`mmtard study`: the paper's claims measured on the miniature chain, as frontiers over chain seeds.

The demo compares single points; the paper's question (does MMT-ARD give more robustness and more
zero-shot accuracy than single-teacher distillation, in fewer steps?) needs methods compared at
matched clean accuracy, at both training radii, with independent teachers, and along training, with
intervals that count sampling error. A full run's report is committed as docs/study.md.
"""
