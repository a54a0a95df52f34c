"""``vislite-tracking``: the Hydra entry point of vislite-tracking (training the one-stream ViT tracker)."""

from vislite_common.engine.hydra_main import make_hydra_main

main = make_hydra_main("pkg://vislite_tracking.configs", "train", command="vislite-tracking")

if __name__ == "__main__":
    main()
