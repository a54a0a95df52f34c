"""SiamFC++ (video_analyst): AlexNet / GoogLeNet / ShuffleNetV2 Siamese trackers with a dense box head."""
