"""``vislite-detection``: the Hydra entry point of vislite-detection (FCOS, Faster R-CNN, NDet box correction)."""

from vislite_common.engine.hydra_main import make_hydra_main

main = make_hydra_main("pkg://vislite_detection.configs", "train", command="vislite-detection")

if __name__ == "__main__":
    main()
