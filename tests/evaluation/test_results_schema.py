"""The row schema: documented field by field, rounded to what the sample size supports, and read
back from an older mmtard's results."""
import re
from pathlib import Path

from mmtard.evaluation.results import BenchmarkResult, decimals_for, eps_label, field_names, flat_row, percent

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'results.md'


def test_docs_results_md_describes_every_field():
    documented = set(re.findall(r'`(\w+)`', DOC.read_text().split('## Example')[0]))
    assert set(field_names()) <= documented, set(field_names()) - documented


def test_rounding_follows_the_sample_count():
    assert [decimals_for(n) for n in (1, 9, 10, 64, 1000, 5000)] == [1, 1, 1, 2, 3, 4]
    assert percent(2 / 3, 1000) == '66.7' and percent(2 / 3, 64) == '67' and percent(None, 10) == '-'
    assert eps_label(4.0) == '4/255' and eps_label(0.5) == '0.5/255' and eps_label(0) == ''
    record = BenchmarkResult(dataset='d', split='test', task='classification', n=1000, n_robust=64, eps=4.0,
                             attack='x', clean_acc=0.123456, robust_acc=0.0468749, per_attack={'apgd-ce': 0.0625},
                             metrics={'nan_grads': 3}, attacked_clean_acc=0.515625, sample_indices=[1, 2])
    row = flat_row(record)
    assert (row['clean_acc'], row['robust_acc'], row['attacked_clean_acc']) == (0.123, 0.05, 0.52)
    assert row['per_attack.apgd-ce'] == 0.06 and row['metrics.nan_grads'] == 3
    assert 'sample_indices' not in row and 'per_attack' not in row and 'metrics' not in row


def test_rows_of_an_older_mmtard_read_back():
    old = dict(dataset='d', split='', task='classification', n=8, n_robust=4, eps=2.0, attack='APGD-CE',
               clean_acc=0.5, robust_acc=0.25, per_attack={}, metrics={'attacked_clean_acc': 0.75})
    record = BenchmarkResult.from_dict(old)
    assert record.attacked_clean_acc == 0.75 and record.metrics == {} and record.model == ''
