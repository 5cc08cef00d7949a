"""StyleGAN3's generators T and R ("Alias-Free Generative Adversarial Networks", Karras et al. 2021), faithful to
NVlabs/stylegan3: the filter design (filters.py, numpy only), the layer schedule (schedule.py), the Fourier-feature
input and the alias-free layers (synthesis.py) and the generator around the shared mapping network (generator.py).
StyleGAN3 trains with StyleGAN2's discriminator (networks/stylegan2/discriminator.py)."""
