"""``vislite-segmentation``: the Hydra entry point of vislite-segmentation."""

from vislite_common.engine.hydra_main import make_hydra_main

main = make_hydra_main("pkg://vislite_segmentation.configs", "train", command="vislite-segmentation")

if __name__ == "__main__":
    main()
