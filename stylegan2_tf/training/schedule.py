"""Training phases, lazy regularization schedule, Adam correction and G-EMA decay.

Lazy regularization (paper section 3.1, appendix B): the regularizer of a network runs every k minibatches
(k = 16 for R1 on D, k = 4 for path length on G), its loss multiplied by k, and the optimizer's
hyper-parameters are corrected for the extra steps with c = k / (k + 1): learning rate lr * c and
Adam betas (beta1 ** c, beta2 ** c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple


@dataclass(frozen=True)
class OptimizerSettings:
    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float
    mb_ratio: float  # the correction c


def lazy_regularization_ratio(reg_interval: Optional[int]) -> float:
    """c = k / (k + 1) for k = reg_interval; 1 when lazy regularization is off (None or 0 or 1)."""
    if reg_interval is None or reg_interval <= 1:
        return 1.0
    return reg_interval / (reg_interval + 1.0)


def corrected_adam(lr: float, betas: Tuple[float, float], eps: float, reg_interval: Optional[int]) -> OptimizerSettings:
    """Adam settings with the lazy-regularization correction applied."""
    if lr <= 0:
        raise ValueError(f'learning rate must be > 0, got {lr}')
    b1, b2 = betas
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f'Adam betas must be in [0, 1), got {betas}')
    c = lazy_regularization_ratio(reg_interval)
    return OptimizerSettings(learning_rate=lr * c, beta_1=b1 ** c, beta_2=b2 ** c, epsilon=eps, mb_ratio=c)


def make_adam(settings: OptimizerSettings, name: str):
    import keras
    return keras.optimizers.Adam(learning_rate=settings.learning_rate, beta_1=settings.beta_1,
                                 beta_2=settings.beta_2, epsilon=settings.epsilon, name=name)


def ema_beta(batch_size: int, ema_kimg: float, cur_nimg: int = 0, rampup: Optional[float] = None) -> float:
    """Decay per step for G_ema with a half-life of ``ema_kimg`` thousand images.

    beta = 0.5 ** (batch / ema_nimg), ema_nimg = ema_kimg * 1000, optionally ramped up as
    min(ema_nimg, cur_nimg * rampup) (stylegan2-ada). ema_kimg <= 0 disables averaging (beta 0).
    """
    ema_nimg = ema_kimg * 1000.0
    if rampup is not None and rampup > 0:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    if ema_nimg <= 0:
        return 0.0
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


# ------------------------------------------------------------------------------------------------
# Phases: which loss terms update which network, and how often.

TERMS = ('main', 'reg')


@dataclass(frozen=True)
class Phase:
    """One optimizer step of one network inside a training step.

    name: 'Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg' or 'Dboth' (stylegan2-ada's names).
    network: 'G' or 'D'. terms: the loss terms summed into this phase's objective ('main' the adversarial loss,
    'reg' path length for G / R1 for D). interval: the phase runs at steps where step % interval == 0.
    reg_multiplier: the regularization term's weight multiplier (k for a lazy phase run every k steps, else 1).
    """
    name: str
    network: str
    terms: Tuple[str, ...]
    interval: int = 1
    reg_multiplier: int = 1

    def __post_init__(self):
        if self.network not in ('G', 'D'):
            raise ValueError(f'phase {self.name}: network must be G or D, got {self.network!r}')
        if not self.terms or any(t not in TERMS for t in self.terms):
            raise ValueError(f'phase {self.name}: terms must be a non-empty subset of {TERMS}, got {self.terms}')
        if self.interval < 1:
            raise ValueError(f'phase {self.name}: interval must be >= 1, got {self.interval}')

    def runs_at(self, step: int) -> bool:
        return step % self.interval == 0


def _network_phases(net: str, reg_interval: Optional[int], reg_weight: float) -> List[Phase]:
    if reg_interval is None or reg_interval < 1:
        raise ValueError(f'{net} regularization interval must be >= 1 (1 = not lazy), got {reg_interval}')
    if reg_interval == 1:  # not lazy: the regularizer joins the main loss every step (configs A and B)
        terms = ('main', 'reg') if reg_weight > 0 else ('main',)
        return [Phase(f'{net}both' if reg_weight > 0 else f'{net}main', net, terms)]
    phases = [Phase(f'{net}main', net, ('main',))]
    if reg_weight > 0:  # a zero weight drops the phase, but the Adam correction still applies (see corrected_adam)
        phases.append(Phase(f'{net}reg', net, ('reg',), interval=reg_interval, reg_multiplier=reg_interval))
    return phases


def make_phases(g_reg_interval: int, pl_weight: float, d_reg_interval: int, gamma: float) -> List[Phase]:
    """The official phase list: Gmain, Greg (every g_reg_interval steps), Dmain, Dreg (every d_reg_interval).

    An interval of 1 merges the regularizer into the main phase (TF1's lazy_regularization=False).
    """
    return _network_phases('G', g_reg_interval, pl_weight) + _network_phases('D', d_reg_interval, gamma)
