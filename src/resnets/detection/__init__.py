"""Object detection on registry backbones: Faster R-CNN and RetinaNet, COCO data and mAP."""
