"""StyleGAN2's networks (configs E/F and StyleGAN2-ADA): the synthesis network, the generator around the shared
mapping network, and the discriminator (also StyleGAN3's)."""
