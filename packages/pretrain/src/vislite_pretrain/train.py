"""``vislite-pretrain``: the Hydra entry point of vislite-pretrain (MAE-lite, fine-tuning, linear probing)."""

from vislite_common.engine.hydra_main import make_hydra_main

main = make_hydra_main("pkg://vislite_pretrain.configs", "train", command="vislite-pretrain")

if __name__ == "__main__":
    main()
