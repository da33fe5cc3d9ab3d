"""Reference (epsilon, delta) values from Google's dp_accounting for DP-SGD settings.

Run from a throwaway venv (`pip install dp-accounting==0.6.0`); the figures it prints are the
ones recorded in crates/defenses/tests/accountant.rs. Poisson-subsampled Gaussian, composed
`steps` times; RDP with the library's default orders, and the PLD accountant.
"""
import sys

import dp_accounting
from dp_accounting import pld, rdp

SETTINGS = [
    # (q, sigma, steps, delta)
    (256 / 60000, 1.1, 60 * 60000 // 256, 1e-5),  # Abadi et al. MNIST, 60 epochs
    (256 / 60000, 1.1, 15 * 60000 // 256, 1e-5),
    (0.01, 1.0, 1000, 1e-5),
    (0.02, 0.8, 500, 1e-6),
    (0.1, 2.0, 100, 1e-5),
    (1.0, 5.0, 10, 1e-5),
    (0.001, 0.6, 10000, 1e-5),
    (64 / 2000, 1.5, 30 * 2000 // 64, 1e-5),
]


def event(q, sigma, steps):
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )


def main():
    print("q\tsigma\tsteps\tdelta\trdp_eps\tpld_eps")
    for q, sigma, steps, delta in SETTINGS:
        r = rdp.RdpAccountant()
        r.compose(event(q, sigma, steps))
        p = pld.PLDAccountant(value_discretization_interval=1e-4)
        p.compose(event(q, sigma, steps))
        print(
            f"{q!r}\t{sigma}\t{steps}\t{delta}\t{r.get_epsilon(delta):.6f}\t{p.get_epsilon(delta):.6f}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
