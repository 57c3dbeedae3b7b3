"""Workshops: a round-by-round game played by a script, with the debrief.

    python examples/workshop_game.py                 # eight quarters; debrief chart in workshop-debrief.png
    python examples/workshop_game.py --quick --out /tmp/debrief.png   # three quarters (tests)

In a workshop the room chooses each quarter's levers; here a fixed plan
does: raise prices, then invest in internal service, then people.
"""

import argparse

from spchain.apps.workshop import Game, regimes

PLAN = [
    {"economics.price_index": 1.1},
    {"internal.tools_spend_per_week": 3000.0},
    {"workforce.recognition": 0.5, "workforce.training_hours": 2.0},
    {}, {}, {"internal.departments.it.n_staff": 3}, {}, {},
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three quarters, for a smoke test")
    parser.add_argument("--out", default="workshop-debrief.png", help="debrief chart (PNG)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    quarters = 3 if args.quick else len(PLAN)

    for name, result in regimes(horizon=13 * quarters, seed=args.seed).items():
        print(f"{name:<18} employee satisfaction {result.total('employee_satisfaction'):.3f}, "
              f"profit {result.total('profit'):,.0f}")

    game = Game("workshop", quarters=quarters, seed=args.seed)
    for choice in PLAN[:quarters]:
        result = game.play(choice)
        print(f"week {game.week:>3}: profit so far {result.total('profit'):>12,.0f}")
    print(game.summary())

    import matplotlib
    matplotlib.use("Agg")
    fig = game.plot_debrief()
    fig.savefig(args.out, dpi=100)
    print(f"debrief chart: {args.out}")


if __name__ == "__main__":
    main()
