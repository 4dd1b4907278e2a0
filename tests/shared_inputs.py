"""Inputs several test folders share: the tiny training config with a 4-iteration schedule, and the
code examples of docs/interfaces.md."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / 'configs' / 'mmtard' / 'mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py'
#: `-o` options that make TINY a 4-iteration run that validates and checkpoints.
FAST = ['-o', 'train_cfg.max_iters=4', '-o', 'train_cfg.val_interval=4', '-o', 'default_hooks.checkpoint.interval=2',
        '-o', 'train_dataloader.batch_size=8', '-o', 'train_dataloader.dataset.num_samples=64',
        '-o', 'val_dataloader.dataset.num_samples=16', '-o', 'model.attack.steps=1', '-o', 'model.val_attack.steps=1']
INTERFACES_DOC = REPO / 'docs' / 'interfaces.md'


def interface_examples():
    """name of the class each example of docs/interfaces.md registers -> the example's code."""
    text = INTERFACES_DOC.read_text().split('\n# Adding a component\n', 1)[1]
    blocks = re.findall(r'```python\n(.*?)```', text, flags=re.S)
    return {re.search(r'^class (\w+)', block, flags=re.M).group(1): block for block in blocks}
