"""Time and peak memory of the CLV models at scale, on customers simulated from known
parameters, so the same run checks that the fits recover them.

    /work/main/.venv/bin/python bench/clv_scale.py --customers 1000000
    /work/main/.venv/bin/python bench/clv_scale.py --customers 1000000 --compare-optimisers

Not collected by pytest (it takes tens of seconds); the figures go in the reply / PR.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.ml.clv import (  # noqa: E402
    BgNbdParams,
    FitConfig,
    GammaGammaParams,
    bg_nbd_log_likelihood,
    customer_lifetime_value,
    fit_bg_nbd,
    fit_gamma_gamma,
    simulate_bg_nbd,
    simulate_gamma_gamma,
)

# The published CDNOW estimates (Fader, Hardie & Lee 2005), in weeks and dollars: realistic
# shapes (most customers buy rarely, a few often; a < 1 means many leave early).
TRUE_BG = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_GG = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
# First purchases spread evenly over two years: T in (0, 104] weeks.
COHORT_WEEKS = 104.0


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def relative_errors(found: object, truth: object) -> str:
    return ", ".join(
        f"{k}={v:.4g} ({(v / asdict(truth)[k] - 1) * 100:+.2f}%)" for k, v in asdict(found).items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--compare-optimisers",
        action="store_true",
        help="also fit with Nelder-Mead and with L-BFGS-B on finite differences",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    T = rng.uniform(0.0, COHORT_WEEKS, args.customers)
    sim = simulate_bg_nbd(TRUE_BG, T, seed=args.seed)
    zbar = simulate_gamma_gamma(TRUE_GG, sim["frequency"], seed=args.seed + 1)
    x, t_x, T = (sim[c].to_numpy() for c in ("frequency", "recency", "T"))
    print(
        f"simulated {args.customers:,} customers in {time.perf_counter() - started:.1f} s "
        f"({(x > 0).mean():.1%} repeat buyers, max frequency {x.max():.0f}); "
        f"peak RSS {peak_rss_mib():.0f} MiB"
    )

    configs = {"L-BFGS-B + analytic gradient (default)": FitConfig()}
    if args.compare_optimisers:
        configs["L-BFGS-B + finite differences"] = replace(FitConfig(), analytic_gradient=False)
        configs["Nelder-Mead"] = replace(FitConfig(), method="Nelder-Mead")

    true_ll = bg_nbd_log_likelihood(TRUE_BG, x, t_x, T)
    for name, config in configs.items():
        fit = fit_bg_nbd(x, t_x, T, config)
        print(
            f"BG/NBD [{name}]: {fit.seconds:.2f} s, {fit.iterations} iterations, "
            f"converged={fit.converged}, LL={fit.log_likelihood:.1f} "
            f"(true parameters: {true_ll:.1f}); {relative_errors(fit.params, TRUE_BG)}; "
            f"peak RSS {peak_rss_mib():.0f} MiB"
        )
        bg = fit.params

    for name, config in configs.items():
        gg_fit = fit_gamma_gamma(x, zbar, config)
        print(
            f"Gamma-Gamma [{name}] on {gg_fit.n_customers:,} repeat buyers: "
            f"{gg_fit.seconds:.2f} s, {gg_fit.iterations} iterations, "
            f"converged={gg_fit.converged}; {relative_errors(gg_fit.params, TRUE_GG)}; "
            f"peak RSS {peak_rss_mib():.0f} MiB"
        )
        gg = gg_fit.params

    started = time.perf_counter()
    clv = customer_lifetime_value(
        bg, gg, x, t_x, T, zbar, horizon=52, discount_rate_per_period=0.002
    )
    print(
        f"CLV over 52 weekly steps for {len(clv):,} customers: "
        f"{time.perf_counter() - started:.2f} s, mean {clv.mean():.2f}; "
        f"peak RSS {peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
