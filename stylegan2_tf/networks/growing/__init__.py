"""The progressive-growing networks of the StyleGAN2 paper's configs A-D: StyleGAN's G_style synthesis (AdaIN) and
D_basic, the revised synthesis and D_stylegan, and the level-of-detail machinery they share."""
