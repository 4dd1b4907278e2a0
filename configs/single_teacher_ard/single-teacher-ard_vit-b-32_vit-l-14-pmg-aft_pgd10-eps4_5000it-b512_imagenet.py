# Single-teacher adversarial distillation, the release's baseline (train/adversarial_distill_clip_ddp_origin.py):
# the PMG-AFT ViT-L/14 robust teacher on clean x, attack maximises KL(p_R(x) || p_S(x + delta)),
# loss KL(p_R(x) || p_S(x_adv)). Same recipe as the MMT-ARD release config (5000 steps at batch 512,
# AdamW 2e-5 wd 1e-4, 7% warm-up + cosine, PGD-10 at 4/255 step 1/255 momentum 0.9, one prompt,
# no augmentation), so that the two differ only in their teachers and loss.
# Departures from the release: its unused teacher forwards (the clean and "origin" ViT-L/14 it loads)
# are not run, nor is its unused clean student forward in train mode (for a ResNet student that
# forward also moves BatchNorm statistics toward clean images; here they follow x_adv only, a ViT
# student is unaffected); batch, learning-rate rule and warm-up start as in the MMT-ARD release config.
_base_ = ['../_base_/models/student_vit_b_32.py', '../_base_/models/teachers_vit_l_14.py',
          '../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_5000it.py',
          '../_base_/attacks/pgd10_momentum.py']

model = dict(
    type='SingleTeacherARD',
    student={{_base_.student}},
    teacher={{_base_.robust_teacher}},
    attack={{_base_.attack}},
    val_attack={{_base_.val_attack}},
    logit_scale=100.0,
    text_cache_dir='work_dirs/.cache/text',
    # ImageNet without augmentation: an index always names the same pixels, so the clean-input teacher's
    # outputs are computed once (first epoch, or `mmtard cache-teacher`) into one file per machine
    cache_clean_teacher_outputs=True,
)
train_dataloader = dict(batch_size=512)
