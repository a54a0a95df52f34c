"""The one-stream ViT-Tiny tracker (OSTrack with candidate elimination): network, loss, Lightning module and
inference tracker."""
