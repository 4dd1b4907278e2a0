# The release's training attack: PGD-10, step 1/255, uniform random start, momentum 0.9 on the
# normalised gradient. eps is in 1/255 units; the release trained at 4 (default) and 2 (README).
train_eps = 4
attack = dict(type='PGD', eps=train_eps, norm='Linf', steps=10, step_size=1, momentum=0.9, random_start=True)
# Robust accuracy during validation: APGD-CE (the full AutoAttack runs in `mmtard eval`).
val_attack = dict(type='APGD', eps=train_eps, norm='Linf', loss='ce', n_iter=10)
